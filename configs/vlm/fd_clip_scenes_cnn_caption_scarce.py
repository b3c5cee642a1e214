# Label-scarce CLIP with a teacher: as clip_student_scenes_cnn_caption_scarce.py (10 % of the
# scenes captioned), plus FD from the cached teacher: the image term on every image (the teacher
# embeds the uncaptioned images too), the text term on the captioned pairs only (text_mask).
_base_ = ['./fd_clip_scenes_cnn_cached.py']
teacher_cache_dir = 'work_dirs/teacher_cache/scenes_clip_caption_scarce'
model = dict(teacher_cache=dict(path=teacher_cache_dir), distiller=dict(losses=dict(loss_fd=dict(
    inputs=dict(text_mask='batch.captioned')))))
train_dataloader = dict(dataset=dict(
    path=teacher_cache_dir,
    dataset=dict(_delete_=True, type='CaptionScarce', captioned_fraction=0.1,
                 dataset={{_base_.train_dataloader.dataset.dataset}})))
