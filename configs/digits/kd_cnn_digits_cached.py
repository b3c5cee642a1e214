# Hinton KD (kd_cnn_digits.py) trained from a teacher-output cache: the teacher ran once over 8
# recorded augmentations of each training image, written by
#   python tools/cache_teacher.py configs/digits/kd_cnn_digits_cached.py
# Training replays one of those augmentations per image and epoch and never builds the teacher.
_base_ = ['./kd_cnn_digits.py']
teacher_cache_dir = 'work_dirs/teacher_cache/kd_cnn_digits'
model = dict(teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(
    _delete_=True, type='TeacherCacheDataset', path=teacher_cache_dir, num_augs=8, seed=0,
    dataset={{_base_.train_dataloader.dataset}}))
