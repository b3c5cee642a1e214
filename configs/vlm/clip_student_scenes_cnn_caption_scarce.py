# Label-scarce CLIP: the CNN-tower student of clip_student_scenes_cnn.py trained alone when only
# 10 % of the training scenes keep their caption (stratified by shape; CaptionScarce). Its CLIP
# loss runs over the captioned pairs of each batch (about 13 of 128); the other images teach it
# nothing.
_base_ = ['./clip_student_scenes_cnn.py']
train_dataloader = dict(dataset=dict(
    _delete_=True, type='CaptionScarce', captioned_fraction=0.1,
    dataset={{_base_.train_dataloader.dataset}}))
