# CLIP distillation on the synthetic captioned scenes: a tiny CLIP teacher (4+4 layers, width 128,
# 48 px, 128-d embeddings) into a student (2+2 layers, width 64, 32 px, 64-d) with each loss and
# with the CLIP-KD combination (CRD + ICL + FD). Zero-shot top-1 on the main object's shape decides
# the gap closed; retrieval recall is reported beside it.
# `python tools/run_experiment.py configs/experiments/scenes_clip_kd.py`
work_dir = 'work_dirs/experiments/scenes_clip_kd'
metric = 'zeroshot/top1'
extra_metrics = ['retrieval/mean_R@1', 'retrieval/i2t_R@1', 'retrieval/t2i_R@1']
runs = [
    dict(name='teacher', config='configs/vlm/clip_teacher_scenes.py', reuse=True),
    dict(name='scratch', config='configs/vlm/clip_student_scenes.py', reuse=True),
]
runs += [
    dict(name=name, config=f'configs/vlm/{config}_clip_scenes.py', teacher_from='teacher',
         reuse=True)
    for name, config in [('Affinity (open_clip)', 'affinity'), ('TinyCLIP affinity', 'tinyclip'),
                         ('CRD', 'crd'), ('FD', 'fd'), ('MFD', 'mfd'), ('GD', 'gd'),
                         ('ICL', 'icl'), ('AFD', 'afd'), ('CLIP-KD (CRD+ICL+FD)', 'clipkd')]
]
