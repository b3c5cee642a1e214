# The teacher's budget: the students' schedule (fashion_mnist_student_20e.py: SGD with Nesterov
# momentum, one epoch of linear warm-up, cosine decay to 0) over 15 epochs.
_base_ = ['./fashion_mnist_student_20e.py']
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=14, by_epoch=True, begin=1, end=15,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=15)
