# Hinton KD (T=4) of the 1.7 k-parameter CNN student from the pretrained teacher: EfficientNet-Lite0
# with ImageNet weights and a linear-probe head (effnet_probe_fmnist.py), its logits read from a
# teacher-output cache of 4 augmentations per image (its forward at 64 px is the cost: about
# 20 min for the cache here, written once). Everything else as kd_cnn_fmnist.py.
_base_ = ['./kd_cnn_fmnist.py', '../_base_/models/efficientnet_lite0.py']
# Written by `python tools/train.py configs/fashion_mnist/effnet_probe_fmnist.py --work-dir
# work_dirs/fashion_mnist/effnet_probe` (the experiment points here too).
teacher_cfg = dict(_delete_=True, type='PretrainedClassifier',
                   backbone={{_base_.efficientnet_lite0}}, head_name='_fc',
                   inputs={{_base_.efficientnet_inputs}})
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_effnet_probe'
model = dict(
    teachers=dict(teacher=dict(model=teacher_cfg,
                               checkpoint='work_dirs/fashion_mnist/effnet_probe/epoch_3.pth')),
    teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir))
