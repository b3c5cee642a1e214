default_scope = 'mmkd'
# The loss inputs of logit distillation (KD, DIST, ...), for the distillation configs to share:
# inputs={{_base_.kd_inputs}}
kd_inputs = dict(student_logits='student.logits', teacher_logits='teacher.logits')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic_local: a run killed while saving keeps its previous checkpoint intact
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=2,
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# re-seeds each epoch so that a resumed run draws the same augmentations
custom_hooks = [dict(type='EpochSeedHook')]
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=False)
log_processor = dict(by_epoch=True, window_size=20)
log_level = 'INFO'
load_from = None
resume = False
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
