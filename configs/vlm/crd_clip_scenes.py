# CLIP-KD's contrastive relational distillation: KL between the teacher's and the student's
# image->text and text->image distributions.
_base_ = ['../_base_/clip_scenes_distill.py']
model = dict(distiller=dict(losses=dict(loss_crd=dict(
    type='ClipCRDLoss', loss_weight=1.0,
    inputs=dict(student_image_embeds='student.image', student_text_embeds='student.text',
                teacher_image_embeds='teacher.image', teacher_text_embeds='teacher.text',
                student_logit_scale='student.scale', teacher_logit_scale='teacher.scale')))))
