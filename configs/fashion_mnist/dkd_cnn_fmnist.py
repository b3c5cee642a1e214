# Decoupled KD (Zhao et al. 2022): alpha * TCKD + beta * NCKD at T=4, mdistiller's CIFAR beta=8.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
model = dict(distiller=dict(losses=dict(
    loss_dkd=dict(type='DKDLoss', alpha=1.0, beta=8.0, temperature=4.0,
                  inputs=dict(student_logits='student.logits',
                              teacher_logits='teacher.logits', labels='batch.labels')))))
