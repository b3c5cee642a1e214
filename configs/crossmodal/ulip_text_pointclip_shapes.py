# CLIP -> 3D, ULIP's point-text term only (InfoNCE between the point embedding and the frozen
# CLIP text embedding of the shape's caption). About 11 min here on 2 shared cores.
_base_ = ['../_base_/clip3d_distill.py']
model = dict(distiller=dict(losses=dict(
    loss_pc_text=dict(type='CrossModalInfoNCELoss', learnable=True, inputs=dict(
        student_embeds='student.point', teacher_embeds='clip.text')))))
