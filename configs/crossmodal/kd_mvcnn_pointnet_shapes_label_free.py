# Label-free 2D -> 3D transfer, what cross-modal KD is for: the point student sees no 3D label,
# only the image teacher's predictions on the paired depth views (KD, T=1 as the recipe). The
# training labels are hidden by LabelScarce (labels = -1, skipped by the student's loss); set
# train_dataloader.dataset.dataset.labelled_fraction=0.01 to keep a stratified 1 % of them.
_base_ = ['./kd_mvcnn_pointnet_shapes.py']
train_dataloader = dict(dataset=dict(dataset=dict(
    _delete_=True, type='LabelScarce', labelled_fraction=0.0,
    dataset={{_base_.train_dataloader.dataset.dataset}})))
