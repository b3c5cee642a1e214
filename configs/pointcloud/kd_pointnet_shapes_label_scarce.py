# Label-scarce transfer set: KD (T=4, cached teacher) on every training cloud, cross-entropy only
# on a stratified 10 % of them (the labels LabelScarce keeps; the same draw as
# pointnet_student_shapes_label_scarce.py).
_base_ = ['./kd_pointnet_shapes_cached.py']
teacher_cache_dir = 'work_dirs/teacher_cache/shapes_pointnet_10pct'  # its key names LabelScarce
model = dict(teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir, dataset=dict(
    _delete_=True, type='LabelScarce', labelled_fraction=0.1,
    dataset={{_base_.train_dataloader.dataset.dataset}})))
