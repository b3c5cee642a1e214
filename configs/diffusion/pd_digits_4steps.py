# Progressive distillation, round 8 -> 4 steps: the teacher is the previous round's student
# (work_dirs/pd_digits, v-prediction, taken out of its distillation checkpoint with prefix
# 'student.'); the student starts from it. See pd_digits.py for the chain and the budget.
_base_ = ['./pd_digits.py']
model = dict(
    num_student_steps=4,
    teacher_clip_x0=False,
    student=dict(predict_steps=4),
    teacher=dict(model=dict(scheduler=dict(prediction_type='v_prediction')),
                 checkpoint='work_dirs/pd_digits/iter_400.pth', prefix='student.'))
