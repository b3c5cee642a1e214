# shapes_distill.py with the teacher's logits read from a teacher-output cache of 8 augmentations
# (512-point subset, z rotation, jitter) of each of the 960 training clouds, written once (the
# experiment runner writes it when missing, or `python tools/cache_teacher.py CONFIG`). Training
# replays one of the 8 cached augmentations per cloud and epoch: teacher and student see the very
# same points, and a student's step costs what training it alone does.
_base_ = ['./shapes_distill.py']
teacher_cache_dir = 'work_dirs/teacher_cache/shapes_pointnet'
model = dict(teacher_cache=dict(path=teacher_cache_dir),
             distiller=dict(recorders=dict(student=dict(_delete_=True, logits='head'),
                                           teacher=dict(_delete_=True, logits='head'))))
train_dataloader = dict(dataset=dict(
    _delete_=True, type='TeacherCacheDataset', path=teacher_cache_dir, num_augs=8, seed=0,
    dataset={{_base_.train_dataloader.dataset}}))
