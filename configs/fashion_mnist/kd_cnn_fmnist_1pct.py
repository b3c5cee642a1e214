# Label-scarce KD: the 55 000 training images are a transfer set with the cached teacher's soft
# outputs on all of them, and the student's cross-entropy sees only the 1 % labelled subset
# (labels of the others are hidden: -1, skipped by the loss). Same budget as kd_cnn_fmnist.py.
_base_ = ['./kd_cnn_fmnist.py']
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_resnet_1pct'
model = dict(teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir,
                                     dataset=dict(labelled_fraction=0.01)))
