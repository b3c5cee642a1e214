# CLIP -> 3D, ULIP's point-image term only (InfoNCE between the point embedding and the frozen
# CLIP image embedding of the shape's rendered depth view): no text and no labels in training,
# the text tower is met only at test time. About 9 min here on 2 shared cores.
_base_ = ['../_base_/clip3d_distill.py']
model = dict(distiller=dict(losses=dict(
    loss_pc_image=dict(type='CrossModalInfoNCELoss', learnable=True, inputs=dict(
        student_embeds='student.point', teacher_embeds='clip.image')))))
