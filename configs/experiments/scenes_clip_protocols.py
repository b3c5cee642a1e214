# CLIP distillation with students that can learn shapes: FD (the best loss of scenes_clip_kd.py)
# into the 2-layer ViT student at 8-px patches (the current student), at 4-px patches (64 tokens
# instead of 16), and into a student with a small CNN image tower (ModifiedResNet, width 16); and
# the patient schedule (12 epochs instead of 3) and label-scarce training (10 % of the scenes
# captioned, CaptionScarce) for the CNN student. Each against the same student trained alone.
# 3 seeds; the zero-shot top-1 on the 'val' scenes chooses the best epoch, and the test scenes
# give the figures at it and at the last epoch. The teacher is scenes_clip_kd.py's (reused when
# it is there); the CNN-tower FD runs read its embeddings from a teacher-output cache (written by
# the runner when missing). The runs are ordered by what they add: the CNN tower first.
# `python tools/run_experiment.py configs/experiments/scenes_clip_protocols.py`
work_dir = 'work_dirs/experiments/scenes_clip_protocols'
metric = 'zeroshot/top1'
extra_metrics = ['retrieval/mean_R@1']
seeds = [0, 1, 2]
VLM = 'configs/vlm'
patch4_alone = {'model.model_cfg.vision_cfg.patch_size': 4}
patch4_student = {'model.student.model_cfg.vision_cfg.patch_size': 4}
patient = {'train_cfg.max_epochs': 12, 'param_scheduler.1.T_max': 11.5,
           'param_scheduler.1.end': 12}
runs = [
    dict(name='teacher', config=f'{VLM}/clip_teacher_scenes.py', reuse=True, seeds=None,
         work_dir='work_dirs/experiments/scenes_clip_kd/teacher'),
    dict(name='scratch (CNN tower)', config=f'{VLM}/clip_student_scenes_cnn.py', reuse=True),
    dict(name='FD (CNN tower)', config=f'{VLM}/fd_clip_scenes_cnn_cached.py',
         teacher_from='teacher', reuse=True),
    # label-scarce: 10 % of the training scenes keep their caption
    dict(name='scratch (CNN tower, 10 % captions)',
         config=f'{VLM}/clip_student_scenes_cnn_caption_scarce.py', reuse=True),
    dict(name='FD (CNN tower, 10 % captions)',
         config=f'{VLM}/fd_clip_scenes_cnn_caption_scarce.py', teacher_from='teacher',
         reuse=True),
    dict(name='scratch (CNN tower, 12 epochs)', config=f'{VLM}/clip_student_scenes_cnn.py',
         reuse=True, cfg_options=patient),
    dict(name='FD (CNN tower, 12 epochs)', config=f'{VLM}/fd_clip_scenes_cnn_cached.py',
         teacher_from='teacher', reuse=True, cfg_options=patient),
    dict(name='scratch (4-px patches)', config=f'{VLM}/clip_student_scenes.py', reuse=True,
         cfg_options=patch4_alone),
    dict(name='FD (4-px patches)', config=f'{VLM}/fd_clip_scenes.py', teacher_from='teacher',
         reuse=True, cfg_options=patch4_student),
    dict(name='scratch', config=f'{VLM}/clip_student_scenes.py', reuse=True),
    dict(name='FD', config=f'{VLM}/fd_clip_scenes.py', teacher_from='teacher', reuse=True),
]
