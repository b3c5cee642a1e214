# The 1/8-width PointNet trained alone on a stratified 10 % of the training labels (8 clouds per
# class): LabelScarce hides the other clouds' labels (labels = -1, skipped by the loss), so the run
# takes as many steps as one on every label.
_base_ = ['./pointnet_student_shapes.py']
train_dataloader = dict(dataset=dict(
    _delete_=True, type='LabelScarce', labelled_fraction=0.1,
    dataset={{_base_.train_dataloader.dataset}}))
