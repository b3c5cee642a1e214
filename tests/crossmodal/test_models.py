"""Cross-modal models: MVCNN teacher on depth views, ULIPPointEncoder (zero-shot), and Distill
runs of an image teacher reading ``batch.views`` into point-cloud students."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.dataset import default_collate

from mmkd.crossmodal.models import MultiViewImageClassifier, ULIPPointEncoder
from mmkd.distill import Distill
from mmkd.distill.recorders import RecorderGroup
from mmkd.pointcloud.views import PointCloudWithViews, project_depth_views
from mmkd.registry import MODELS
from mmkd.vlm.metrics import ZeroShotAccuracy

TEACHER = dict(type='MultiViewImageClassifier', channels=(4, 8), num_classes=3)
# a tiny random open_clip architecture (random weights, nothing downloaded)
CLIP_CFG = dict(embed_dim=32,
                vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8, head_width=16),
                text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1))
POINTNET = dict(type='PointNetClassifier', channels=(8, 16), head_channels=(8,), num_classes=3,
                dropout=0.0)


def views(b=2, v=3, size=8, seed=0):
    return torch.rand(b, v, 1, size, size, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- MVCNN
def test_multiview_modes_recorders_and_view_max_pool():
    model = MODELS.build(TEACHER).eval()
    x = views()
    group = RecorderGroup(model, dict(maps='view_maps', feats='view_features', pooled='pooled',
                                      logits='head'), 'test')
    with group:
        logits = model(x)
    assert logits.shape == (2, 3)
    maps, feats, pooled = group.get('maps', 't'), group.get('feats', 't'), group.get('pooled', 't')
    assert maps.shape == (2, 3, 8, 4, 4) and feats.shape == (2, 3, 8) and pooled.shape == (2, 8)
    torch.testing.assert_close(feats, maps.mean(dim=(-2, -1)))
    torch.testing.assert_close(pooled, feats.max(dim=1).values)
    torch.testing.assert_close(group.get('logits', 't'), logits)
    # a shared CNN per view: view 1 alone gives the same per-view features
    single = model.backbone(x[:, 1]).mean(dim=(-2, -1))
    torch.testing.assert_close(feats[:, 1], single)
    # view pooling makes it invariant to the order of the views; dict inputs work too
    torch.testing.assert_close(model(dict(views=x[:, [2, 0, 1]])), logits)
    labels = torch.tensor([0, 2])
    loss = model(x, dict(labels=labels), mode='loss')['loss_cls']
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    preds = model(x, dict(labels=labels), mode='predict')
    assert [int(p['gt_label']) for p in preds] == [0, 2]
    torch.testing.assert_close(preds[0]['scores'], logits[0].softmax(-1))


def test_multiview_input_errors():
    model = MultiViewImageClassifier(channels=(4,), num_classes=2)
    with pytest.raises(ValueError, match=r'inputs: expected views \[B, V, 1, H, W\].*shape '
                                         r'\(2, 1, 8, 8\)'):
        model(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"a dict with keys \['image'\]"):
        model(dict(image=torch.rand(2, 1, 1, 8, 8)))
    with pytest.raises(ValueError, match='mode'):
        model(views(), mode='nope')


# ----------------------------------------------------------------------------- ULIPPointEncoder
def encoder(**kwargs):
    cfg = dict(type='ULIPPointEncoder', embed_dim=6, backbone=POINTNET)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def clouds(b=4, n=32, seed=0):
    return torch.randn(b, n, 3, generator=torch.Generator().manual_seed(seed))


def test_point_clip_encoder_embeds_and_zero_shot_predictions():
    class_embeds = torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    model = encoder(class_embeds=class_embeds, logit_scale=50.0).eval()
    assert isinstance(model, ULIPPointEncoder)
    x = clouds()
    group = RecorderGroup(model, dict(embed='point_embed', pool='backbone.pool'), 'test')
    with group:
        out = model(x)
    assert out.shape == (4, 6)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(4))
    torch.testing.assert_close(group.get('embed', 't'), out)
    # point_embed = normalize(proj(pool features)); the backbone's head is gone
    torch.testing.assert_close(out, F.normalize(model.proj(group.get('pool', 't')), dim=1))
    assert not any(k.startswith('backbone.head') for k in model.state_dict())
    # scores: softmax(logit_scale * cosine) computed independently
    labels = torch.tensor([0, 1, 2, -1])
    preds = model(x, dict(labels=labels), mode='predict')
    cos = F.normalize(out, dim=1) @ F.normalize(class_embeds, dim=1).t()
    expected = (50.0 * cos).softmax(dim=1)
    for i, pred in enumerate(preds):
        torch.testing.assert_close(pred['scores'], expected[i])
        assert int(pred['pred_label']) == int(expected[i].argmax())
    assert 'gt_label' not in preds[3] and int(preds[2]['gt_label']) == 2
    metric = ZeroShotAccuracy(topk=(1, 3))
    metric.process(None, preds[:3])
    assert metric.compute_metrics(metric.results)['top3'] == 100.0
    # 'loss': cross-entropy of the zero-shot logits
    loss = model(x, dict(labels=torch.tensor([0, 1, 2, 0])), mode='loss')['loss_zs']
    torch.testing.assert_close(loss, F.cross_entropy(50.0 * cos, torch.tensor([0, 1, 2, 0])))
    # the classifier is a frozen, non-persistent buffer: not trained, not saved
    assert 'classifier' not in model.state_dict()
    assert all(p is not model.classifier for p in model.parameters())


def test_point_clip_encoder_text_encoder_source_and_file(tmp_path):
    from mmkd.vlm.models import OpenCLIPModel
    zero_shot = dict(classes=['box', 'sphere'], templates=['a depth map of a {}.'])
    model = encoder(embed_dim=32, zero_shot=zero_shot,
                    text_encoder=dict(type='OpenCLIPModel', model_cfg=CLIP_CFG))
    clip = OpenCLIPModel(model_cfg=CLIP_CFG, zero_shot=zero_shot).eval()
    torch.testing.assert_close(model.classifier, clip.zero_shot_classifier())
    assert model.classes == ['box', 'sphere']
    assert not any('clip' in name for name, _ in model.named_modules())
    assert not any('clip' in k or 'classifier' in k for k in model.state_dict())
    path = str(tmp_path / 'classes.pt')
    torch.save(clip.zero_shot_classifier(), path)
    from_file = encoder(embed_dim=32, class_embeds=path)
    torch.testing.assert_close(from_file.classifier, model.classifier)
    # no classifier: 'loss' gives no entry, 'predict' only embeddings
    plain = encoder()
    assert plain(clouds(), dict(labels=torch.zeros(4).long()), mode='loss') == {}
    assert set(plain(clouds(), mode='predict')[0]) == {'point_embeds'}


def test_point_clip_encoder_errors(tmp_path):
    with pytest.raises(ValueError, match='zero_shot needs a text source'):
        encoder(zero_shot=dict(classes=['a'], templates=['{}']))
    with pytest.raises(ValueError, match=r'classifier has dim 4 but embed_dim=6'):
        encoder(class_embeds=torch.randn(3, 4))
    with pytest.raises(ValueError, match='zero_shot.classes has 2 names but class_embeds has 3'):
        encoder(class_embeds=torch.randn(3, 6), zero_shot=dict(classes=['a', 'b']))
    with pytest.raises(FileNotFoundError, match='class_embeds'):
        encoder(class_embeds=str(tmp_path / 'missing.pt'))
    with pytest.raises(ValueError, match='not both'):
        encoder(class_embeds=torch.randn(3, 6), text_encoder=dict(type='OpenCLIPModel'),
                zero_shot=dict(classes=['a', 'b', 'c'], templates=['{}']))


# ----------------------------------------------------------------------------- Distill
@pytest.fixture(scope='module')
def shape_batch(tmp_path_factory):
    dataset = PointCloudWithViews(
        dataset=dict(type='SyntheticShapes', num_train_per_class=1, num_points=64,
                     cache_dir=str(tmp_path_factory.mktemp('shapes')), progress=False,
                     classes=['box', 'sphere', 'table']),
        num_views=2, image_size=16)
    return default_collate([dataset[i] for i in range(len(dataset))])


def check_grads(algo):
    teacher = algo.teachers['teacher']
    assert all(p.grad is None for p in teacher.parameters())
    grads = [p.grad for p in algo.student.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_distill_mvcnn_teacher_on_views_into_pointnet_kd(shape_batch):
    points, data_samples = shape_batch['inputs'], shape_batch['data_samples']
    assert points.shape == (3, 64, 3) and data_samples['views'].shape == (3, 2, 1, 16, 16)
    torch.manual_seed(0)
    algo = Distill(
        student=POINTNET,
        teachers=dict(teacher=dict(model=TEACHER, inputs='batch.views')),
        distiller=dict(
            recorders=dict(student=dict(logits='head'), teacher=dict(logits='head')),
            losses=dict(loss_kd=dict(type='KDLoss', temperature=4.0, inputs=dict(
                student_logits='student.logits', teacher_logits='teacher.logits')))))
    algo.train()
    losses = algo.loss(points, data_samples)
    total = sum(losses.values())
    assert torch.isfinite(losses['distill.loss_kd']) and torch.isfinite(total)
    # the teacher saw the views
    teacher_logits = algo.distiller.recorder_groups['teacher'].get('logits', 't')
    torch.testing.assert_close(teacher_logits, algo.teachers['teacher'](data_samples['views']))
    total.backward()
    check_grads(algo)


def test_distill_ppkt_and_ulip_style_losses_through_the_distiller(shape_batch):
    """PPKT on per-point PointNet features vs the teacher's view maps (pixels from
    project_depth_views of the same points), and the InfoNCE between the ULIPPointEncoder
    embedding and the teacher's pooled view feature."""
    points = shape_batch['inputs']
    data_samples = dict(shape_batch['data_samples'])
    b, n = points.shape[:2]
    _, pixels, visible = project_depth_views(points, num_views=2, image_size=16,
                                             return_pixels=True)
    data_samples.update(pixels=pixels, visible=visible,
                        point_batch=torch.arange(b).repeat_interleave(n))
    torch.manual_seed(0)
    algo = Distill(
        student=dict(type='ULIPPointEncoder', embed_dim=8, backbone=POINTNET),
        teachers=dict(teacher=dict(model=TEACHER, inputs='batch.views')),
        distiller=dict(
            recorders=dict(student=dict(points='backbone.encoder', embed='point_embed'),
                           teacher=dict(maps='view_maps', pooled='pooled')),
            connectors=dict(pp=dict(type='LinearConnector', in_channels=16, out_channels=8)),
            losses=dict(
                loss_ppkt=dict(type='PointPixelContrastiveLoss', num_pairs=64, image_size=16,
                               inputs=dict(student_feats=dict(source='student.points',
                                                              connector='pp'),
                                           teacher_maps='teacher.maps', pixels='batch.pixels',
                                           visible='batch.visible', batch='batch.point_batch')),
                loss_pc_image=dict(type='CrossModalInfoNCELoss', learnable=True, inputs=dict(
                    student_embeds='student.embed', teacher_embeds='teacher.pooled')))))
    algo.train()
    losses = algo.loss(points, data_samples)
    assert set(losses) == {'distill.loss_ppkt', 'distill.loss_pc_image'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    check_grads(algo)
    assert algo.distiller.losses['loss_pc_image'].log_scale.grad is not None
