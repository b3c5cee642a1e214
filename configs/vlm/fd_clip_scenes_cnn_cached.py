# fd_clip_scenes_cnn.py with the teacher's embeddings read from a teacher-output cache, written
# once (the experiment runner writes it when missing, or `python tools/cache_teacher.py CONFIG`).
# The scenes are not augmented, so one cached pass (num_augs=1) is exact, and the student's step
# costs what training it alone does: a long (patient) schedule stays cheap.
_base_ = ['./fd_clip_scenes_cnn.py']
teacher_cache_dir = 'work_dirs/teacher_cache/scenes_clip'
model = dict(teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(
    _delete_=True, type='TeacherCacheDataset', path=teacher_cache_dir, num_augs=1, seed=0,
    dataset={{_base_.train_dataloader.dataset}}))
