# Label-scarce KD with 10 % of the labels (see kd_cnn_fmnist_1pct.py).
_base_ = ['./kd_cnn_fmnist.py']
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_resnet_10pct'
model = dict(teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir,
                                     dataset=dict(labelled_fraction=0.1)))
