# CLIP-KD's feature distillation: MSE between the (projected) student and teacher embeddings.
# Element-wise MSE of unit vectors is 2 (1 - cos) / D; the weight 500 at D=128 matches the
# paper's 2000 at D=512.
_base_ = ['../_base_/clip_scenes_distill.py']
model = dict(distiller=dict(losses=dict(loss_fd=dict(
    type='FDLoss', loss_weight=500.0,
    inputs=dict(student_image_embeds=dict(source='student.image', connector='image_s'),
                student_text_embeds=dict(source='student.text', connector='text_s'),
                teacher_image_embeds='teacher.image', teacher_text_embeds='teacher.text')))))
