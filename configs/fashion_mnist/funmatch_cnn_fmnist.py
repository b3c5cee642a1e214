# Function matching (Beyer et al., CVPR 2022, "Knowledge distillation: a good teacher is patient
# and consistent"): teacher and student see the very same aggressively augmented image
# (translation by up to 4 px, flip, and mixup or cutmix with another training image), the student
# matches the teacher's prediction (KL at T=1) and uses no labels. 8 cached augmentations per
# image take the teacher out of the step; the mixing (main process) still makes a step about 3x
# the plain student's here, about 25 min for the 60 epochs.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_resnet_funmatch'
model = dict(
    student_loss_weight=0.0,
    teacher_cache=dict(path=teacher_cache_dir),
    distiller=dict(losses=dict(
        loss_kd=dict(type='KDLoss', temperature=1.0, inputs={{_base_.kd_inputs}}))))
train_dataloader = dict(dataset=dict(
    path=teacher_cache_dir, num_augs=8,
    dataset=dict(crop_padding=4, flip=True, mix='mixup_cutmix', mix_alpha=1.0)))
# the patient schedule (as schedules/fashion_mnist_student_60e.py)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=59, by_epoch=True, begin=1, end=60,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=60)
