# The 2D -> 3D point student trained alone on a stratified 1 % of the 3D labels (one cloud per
# class here): the other training clouds' labels are hidden by LabelScarce (labels = -1, skipped
# by the loss), so it takes as many steps as the students that see every cloud.
_base_ = ['./pointnet_student_shapes_views.py']
train_dataloader = dict(dataset=dict(dataset=dict(
    _delete_=True, type='LabelScarce', labelled_fraction=0.01,
    dataset={{_base_.train_dataloader.dataset.dataset}})))
