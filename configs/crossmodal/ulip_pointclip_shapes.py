# CLIP -> 3D, ULIP: the point embedding is pulled towards the frozen CLIP teacher's embeddings of
# the shape's caption (point-text InfoNCE) and of its rendered depth view (point-image InfoNCE),
# each with a learnable logit scale. No labels are used; the test metric is zero-shot
# classification against the class prompts. About 10 min here on 2 shared cores.
_base_ = ['../_base_/clip3d_distill.py']
model = dict(distiller=dict(losses=dict(
    loss_pc_text=dict(type='CrossModalInfoNCELoss', learnable=True, inputs=dict(
        student_embeds='student.point', teacher_embeds='clip.text')),
    loss_pc_image=dict(type='CrossModalInfoNCELoss', learnable=True, inputs=dict(
        student_embeds='student.point', teacher_embeds='clip.image')))))
