# fashion_mnist_distill.py with the teacher's logits and pooled feature read from a teacher-output
# cache of 4 augmentations of each of the 55 000 training images (written once, about 3 min here;
# the experiment runner writes it when missing, or `python tools/cache_teacher.py CONFIG`), so a
# student's step costs about what training it alone does. Training replays one of the 4 cached
# augmentations per image and epoch: teacher and student see the very same input.
_base_ = ['./fashion_mnist_distill.py']
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_resnet'
model = dict(teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(
    _delete_=True, type='TeacherCacheDataset', path=teacher_cache_dir, num_augs=4, seed=0,
    dataset={{_base_.train_dataloader.dataset}}))
