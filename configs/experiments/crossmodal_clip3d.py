# Cross-modal CLIP -> 3D (ULIP-style) distillation on the synthetic shapes: a tiny CLIP trained on
# captioned depth views, then a point encoder (PointNet x1/4 + projection, 26 k parameters)
# trained into its embedding space from the frozen CLIP's text and image embeddings, with no
# labels. The metric is zero-shot top-1 against the class prompts: of the CLIP teacher on a
# rendered view of each test shape, of the students on the shape's points. "of teacher" = student
# / teacher zero-shot. One seed per run. Measured here on 2 cores shared with other training jobs:
# teacher 14 min (3.3 min of CPU), then 39 min for the 4 students (13 min of CPU).
# `python tools/run_experiment.py configs/experiments/crossmodal_clip3d.py`
work_dir = 'work_dirs/experiments/crossmodal_clip3d'
metric = 'zeroshot/top1'
extra_metrics = ['zeroshot/top5']
teacher_ratio = True
teacher_run = 'CLIP teacher (depth views)'
# no scratch baseline: the supervised run is a reference, not a lower bound (no gap closed)
scratch_run = None
# the frozen teacher and the frozen text tower behind the zero-shot classifier: both the teacher
# run's checkpoint
clip_keys = ['model.teachers.clip.checkpoint', 'model.student.text_encoder.pretrained']
runs = [
    dict(name=teacher_run, config='configs/crossmodal/clip_teacher_shapes.py', reuse=True),
    dict(name='ULIP (point-text + point-image)',
         config='configs/crossmodal/ulip_pointclip_shapes.py', teacher_from=teacher_run,
         teacher_checkpoint_keys=clip_keys, reuse=True),
    dict(name='ULIP point-text only', config='configs/crossmodal/ulip_text_pointclip_shapes.py',
         teacher_from=teacher_run, teacher_checkpoint_keys=clip_keys, reuse=True),
    dict(name='ULIP point-image only',
         config='configs/crossmodal/ulip_image_pointclip_shapes.py', teacher_from=teacher_run,
         teacher_checkpoint_keys=clip_keys, reuse=True),
    dict(name='supervised (labels)', config='configs/crossmodal/supervised_pointclip_shapes.py',
         teacher_from=teacher_run, teacher_checkpoint_keys=['model.text_encoder.pretrained'],
         reuse=True),
]
