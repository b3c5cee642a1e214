# CLIP-KD's gradient distillation: the gradients of the contrastive loss with respect to the
# embeddings, student (projected) against teacher, in closed form.
_base_ = ['../_base_/clip_scenes_distill.py']
model = dict(distiller=dict(losses=dict(loss_gd=dict(
    type='GDLoss', loss_weight=1.0,
    inputs=dict(student_image_embeds=dict(source='student.image', connector='image_s'),
                student_text_embeds=dict(source='student.text', connector='text_s'),
                teacher_image_embeds='teacher.image', teacher_text_embeds='teacher.text',
                student_logit_scale='student.scale', teacher_logit_scale='teacher.scale')))))
