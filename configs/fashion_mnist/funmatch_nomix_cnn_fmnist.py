# Function matching without mixing, an ablation of funmatch_cnn_fmnist.py: the student matches the
# teacher (KL at T=1, no labels) for the same 60 epochs, on protocol (a)'s augmentations
# (translation by up to 2 px, flip; the 4-augmentation cache the other students read) instead of
# mixup/cutmix images. Does the mixing or the label-free objective hold function matching back?
_base_ = ['./kd_cnn_fmnist.py']
model = dict(student_loss_weight=0.0, distiller=dict(losses=dict(loss_kd=dict(temperature=1.0))))
# the patient schedule (as schedules/fashion_mnist_student_60e.py)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=59, by_epoch=True, begin=1, end=60,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=60)
