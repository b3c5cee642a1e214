# FD (weight 500) into the student with the small CNN image tower of clip_student_scenes_cnn.py.
_base_ = ['./fd_clip_scenes.py']
model = dict(student=dict(model_cfg=dict(vision_cfg=dict(
    _delete_=True, image_size=32, layers=(1, 1, 1, 1), width=16, head_width=16))))
