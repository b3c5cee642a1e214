# The CLIP-KD recipe: CRD + ICL + FD together.
_base_ = ['../_base_/clip_scenes_distill.py']
model = dict(distiller=dict(losses=dict(
    loss_crd=dict(
        type='ClipCRDLoss', loss_weight=1.0,
        inputs=dict(student_image_embeds='student.image', student_text_embeds='student.text',
                    teacher_image_embeds='teacher.image', teacher_text_embeds='teacher.text',
                    student_logit_scale='student.scale', teacher_logit_scale='teacher.scale')),
    loss_icl=dict(
        type='ICLLoss', loss_weight=1.0,
        inputs=dict(student_image_embeds=dict(source='student.image', connector='image_s'),
                    student_text_embeds=dict(source='student.text', connector='text_s'),
                    teacher_image_embeds='teacher.image', teacher_text_embeds='teacher.text',
                    student_logit_scale='student.scale')),
    loss_fd=dict(
        type='FDLoss', loss_weight=500.0,
        inputs=dict(student_image_embeds=dict(source='student.image', connector='image_s'),
                    student_text_embeds=dict(source='student.text', connector='text_s'),
                    teacher_image_embeds='teacher.image', teacher_text_embeds='teacher.text')))))
