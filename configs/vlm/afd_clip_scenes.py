# CLIP-KD's augmented feature distillation: student embeddings fused with the teacher's by a
# learned linear layer (owned by the loss) go through the contrastive loss.
_base_ = ['../_base_/clip_scenes_distill.py']
model = dict(distiller=dict(losses=dict(loss_afd=dict(
    type='AFDLoss', student_dim=64, teacher_dim=128, loss_weight=1.0,
    inputs=dict(student_image_embeds='student.image', student_text_embeds='student.text',
                teacher_image_embeds='teacher.image', teacher_text_embeds='teacher.text',
                student_logit_scale='student.scale')))))
