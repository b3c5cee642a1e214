# PointDistiller-style local distillation: 64 FPS centres per cloud, their 8 nearest neighbours
# in the teacher's feature space, the student's edge features through an EdgeConv connector
# against the teacher's neighbourhood max, reweighted by the teacher's critical points; plus KD.
_base_ = ['../_base_/shapes_distill.py']
model = dict(distiller=dict(
    losses=dict(
        loss_local=dict(type='PointDistillerLoss', student_channels=16, teacher_channels=128,
                        k=8, num_centers=64, graph_space='feature', loss_weight=1.0,
                        inputs=dict(student_feats='student.feat', teacher_feats='teacher.feat',
                                    batch='teacher.batch', pos='teacher.pos',
                                    student_batch='student.batch')),
        loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                     inputs={{_base_.kd_inputs}}))))
