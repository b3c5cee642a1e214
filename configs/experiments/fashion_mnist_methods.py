# Protocol (a), standard: every classification method on real Fashion-MNIST with all labels, one
# budget (20 epochs, SGD, cosine), 3 seeds, the epoch chosen on the validation split and the last
# epoch both tested. The teachers live in work_dirs/fashion_mnist/ and are shared with the other
# Fashion-MNIST experiments (trained once, then reused).
work_dir = 'work_dirs/experiments/fashion_mnist_methods'
metric = 'accuracy/top1'
seeds = [0, 1, 2]
teacher = dict(name='teacher', config='configs/fashion_mnist/resnet_teacher_fmnist.py',
               work_dir='work_dirs/fashion_mnist/resnet_teacher', reuse=True, seeds=None)
# the second teacher of MultiTeacherKD: the demo's small CNN teacher (3 epochs, about 2 min)
small_teacher = dict(name='teacher (demo CNN)',
                     config='configs/fashion_mnist/demo/cnn_teacher_fmnist_demo.py',
                     work_dir='work_dirs/fashion_mnist/demo_teacher', reuse=True, seeds=None)
runs = [teacher,
        dict(name='scratch', config='configs/fashion_mnist/cnn_student_fmnist.py', reuse=True)]
runs += [dict(name=name, config=f'configs/fashion_mnist/{file}_cnn_fmnist.py',
              teacher_from='teacher', reuse=True)
         for name, file in [('KD', 'kd'), ('DKD', 'dkd'), ('DIST', 'dist'), ('RKD+KD', 'rkd'),
                            ('PKT+KD', 'pkt'), ('SP+KD', 'sp'), ('CRD+KD', 'crd'),
                            ('FitNets+KD', 'fitnet'), ('AT+KD', 'at')]]
runs += [small_teacher,
         dict(name='MultiTeacherKD', config='configs/fashion_mnist/multi_teacher_kd_cnn_fmnist.py',
              teacher_from='teacher', reuse=True),
         dict(name='mutual learning', config='configs/fashion_mnist/mutual_cnn_fmnist.py',
              reuse=True),
         dict(name='EMA self-KD', config='configs/fashion_mnist/ema_self_kd_cnn_fmnist.py',
              reuse=True)]
