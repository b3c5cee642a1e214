"""OpenCLIPModel on real open_clip models: building (inline and named), seeded init, per-model
preprocessing and tokenization, local checkpoints, the loss, zero-shot classification, recorders
and a ViT-B-32 -> tiny student ``Distill`` run."""
import json
import math
import re

import open_clip
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from mmkd.distill import Distill
from mmkd.distill.recorders import RecorderGroup
from mmkd.fileio import CheckpointMismatchError
from mmkd.registry import MODELS
from mmkd.vlm.models import OpenCLIPModel, clip_contrastive_loss

STUDENT_CFG = dict(embed_dim=32,
                   vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=8, head_width=32),
                   text_cfg=dict(context_length=16, vocab_size=49408, width=64, heads=2, layers=2))
TEACHER_CFG = dict(embed_dim=48,
                   vision_cfg=dict(image_size=48, layers=2, width=96, patch_size=8, head_width=32),
                   text_cfg=dict(context_length=24, vocab_size=49408, width=96, heads=3, layers=2))
CAPTIONS = ['a photo of a cat', 'a dog on the grass', 'a red car', 'two birds in the sky']
CLASSES = ['cat', 'dog', 'car']
TEMPLATES = ['a photo of a {}.', 'a blurry photo of a {}.', lambda c: f'art of the {c}']


def student(**kwargs):
    return OpenCLIPModel(model_cfg=STUDENT_CFG, **kwargs)


def batch(n=4, size=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(image=torch.rand(n, 3, size, size, generator=g), text=CAPTIONS[:n])


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ----------------------------------------------------------------------------------- building
def test_build_from_inline_config_through_the_registry():
    model = MODELS.build(dict(type='OpenCLIPModel', model_cfg=STUDENT_CFG))
    assert isinstance(model, OpenCLIPModel) and isinstance(model.clip, open_clip.CLIP)
    assert model.image_size == (32, 32) and model.context_length == 16
    # default normalisation: open_clip's (OpenAI) preprocess config
    torch.testing.assert_close(model.pixel_mean.flatten(),
                               torch.tensor(open_clip.OPENAI_DATASET_MEAN))
    torch.testing.assert_close(model.pixel_std.flatten(),
                               torch.tensor(open_clip.OPENAI_DATASET_STD))
    out = model(batch(), mode='tensor')
    assert out['image_embeds'].shape == out['text_embeds'].shape == (4, 32)
    assert out['logit_scale'].shape == ()
    torch.testing.assert_close(out['logit_scale'], torch.tensor(1 / 0.07))
    torch.testing.assert_close(out['image_embeds'].norm(dim=1), torch.ones(4))
    torch.testing.assert_close(out['text_embeds'].norm(dim=1), torch.ones(4))
    # overrides
    model = student(image_size=(24, 40), context_length=8, image_mean=(0.5, 0.5, 0.5),
                    image_std=(0.25, 0.25, 0.25))
    assert model.image_size == (24, 40) and model.clip.visual.grid_size == (3, 5)
    assert model.context_length == 8 and model.clip.positional_embedding.shape == (8, 64)
    assert model.tokenize(CAPTIONS).shape == (4, 8)
    torch.testing.assert_close(model.pixel_mean.flatten(), torch.full((3,), 0.5))


def test_build_from_open_clip_names(tmp_path):
    # a built-in name, random weights (nothing downloaded), with overrides
    model = OpenCLIPModel(model_name='ViT-B-32', image_size=64, context_length=20)
    assert model.image_size == (64, 64) and model.context_length == 20
    assert model.clip.visual.conv1.weight.shape == (768, 3, 32, 32)
    out = model(batch(2), mode='tensor')
    assert out['image_embeds'].shape == out['text_embeds'].shape == (2, 512)
    assert model.tokenize(CAPTIONS).shape == (4, 20)
    # a custom name registered with open_clip
    path = tmp_path / 'mmkd-test-tiny-clip.json'
    path.write_text(json.dumps(STUDENT_CFG))
    open_clip.add_model_config(path)
    named = OpenCLIPModel(model_name='mmkd-test-tiny-clip')
    inline = student()
    assert same_weights(named, inline)          # same architecture, same seeded init
    assert named.context_length == 16 and named.image_size == (32, 32)


def test_bad_arguments_are_rejected_clearly():
    with pytest.raises(ValueError, match='exactly one of model_name'):
        OpenCLIPModel()
    with pytest.raises(ValueError, match='exactly one of model_name'):
        OpenCLIPModel(model_name='ViT-B-32', model_cfg=STUDENT_CFG)
    with pytest.raises(ValueError, match='init_cfg is not supported'):
        OpenCLIPModel(model_cfg=STUDENT_CFG, init_cfg=dict(type='Pretrained', checkpoint='x'))
    with pytest.raises(ValueError, match='embed_dim'):
        OpenCLIPModel(model_cfg=dict(embed_dim=8))
    with pytest.raises(ValueError, match="neither an existing file nor a pretrained tag of "
                                         "'ViT-B-32'; its tags: .*'laion2b_s34b_b79k'"):
        OpenCLIPModel(model_name='ViT-B-32', pretrained='no_such_tag')
    with pytest.raises(ValueError, match='need model_name'):
        student(pretrained='openai')
    with pytest.raises(ValueError, match='zero_shot'):
        student(zero_shot=dict(classes=['a']))
    with pytest.raises(ValueError, match="strings with '{}'"):
        student(zero_shot=dict(classes=['a'], templates=['no placeholder']))
    model = student()
    with pytest.raises(ValueError, match=r"mode: expected"):
        model(batch(), mode='features')
    with pytest.raises(ValueError, match=r"inputs\['text'\]: mode 'loss' needs"):
        model(dict(image=torch.rand(2, 3, 32, 32)), mode='loss')
    with pytest.raises(ValueError, match=r"inputs\['image'\]: expected float images"):
        model(dict(image=torch.rand(2, 32, 32), text=['a', 'b']))
    with pytest.raises(ValueError, match='2 images but 3 texts'):
        model(dict(image=torch.rand(2, 3, 32, 32), text=['a', 'b', 'c']))


def test_init_seed_is_deterministic_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a, b, c = student(init_seed=0), student(init_seed=0), student(init_seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert same_weights(a, b)
    assert not torch.equal(a.clip.visual.conv1.weight, c.clip.visual.conv1.weight)
    # init_seed=None draws from the global generator
    torch.manual_seed(3)
    d = student(init_seed=None)
    torch.manual_seed(3)
    e = student(init_seed=None)
    assert same_weights(d, e) and not same_weights(d, a)
    # the runner's init_weights() does not re-initialise anything
    a.init_weights()
    assert same_weights(a, b)


# ------------------------------------------------------------------- preprocessing, tokenizer
def test_teacher_and_student_consume_the_same_batch_with_their_own_preprocessing():
    teacher = OpenCLIPModel(model_cfg=TEACHER_CFG, image_mean=(0.5, 0.4, 0.3),
                            image_std=(0.2, 0.3, 0.4))
    small = student()
    data = batch(n=3, size=40)                  # a third size: neither 32 nor 48
    seen = {}
    for name, model in (('teacher', teacher), ('student', small)):
        group = RecorderGroup(model, dict(pixels=dict(source='clip.visual.conv1', kind='input'),
                                          tokens=dict(source='clip.token_embedding',
                                                      kind='input')), name)
        with group:
            out = model(data, mode='tensor')
        seen[name] = (out, group.get('pixels', name), group.get('tokens', name))
    (t_out, t_pix, t_tok), (s_out, s_pix, s_tok) = seen['teacher'], seen['student']
    assert t_out['image_embeds'].shape == t_out['text_embeds'].shape == (3, 48)
    assert s_out['image_embeds'].shape == s_out['text_embeds'].shape == (3, 32)
    assert t_pix.shape == (3, 3, 48, 48) and s_pix.shape == (3, 3, 32, 32)
    assert t_tok.shape == (3, 24) and s_tok.shape == (3, 16)
    # the pixels are the bilinear (antialiased) resize, normalised with each model's mean/std
    resized = F.interpolate(data['image'], size=(48, 48), mode='bilinear', align_corners=False,
                            antialias=True)
    expected = (resized - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / \
        torch.tensor([0.2, 0.3, 0.4]).view(1, 3, 1, 1)
    torch.testing.assert_close(t_pix, expected)
    resized = F.interpolate(data['image'], size=(32, 32), mode='bilinear', align_corners=False,
                            antialias=True)
    expected = (resized - torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(s_pix, expected)
    # images already at the model's size are not resampled
    exact = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(small.preprocess(exact),
                               (exact - small.pixel_mean) / small.pixel_std)
    # the public helpers give the same normalised embeddings as the forward pass
    torch.testing.assert_close(small.encode_image(data['image']), s_out['image_embeds'])
    torch.testing.assert_close(small.encode_text(data['text']), s_out['text_embeds'])


def test_tokenizer_honours_the_context_length():
    model = student(context_length=8)
    long_caption = ' '.join(['word'] * 30)
    tokens = model.tokenize(['a cat', long_caption])
    assert tokens.dtype == torch.long and tokens.shape == (2, 8)
    sot, eot = model.tokenizer.sot_token_id, model.tokenizer.eot_token_id
    assert tokens[0, 0] == sot and tokens[0, 3] == eot and (tokens[0, 4:] == 0).all()
    assert tokens[1, 0] == sot and tokens[1, -1] == eot     # truncated, still ends with eot
    assert torch.equal(tokens, open_clip.SimpleTokenizer(context_length=8)(['a cat',
                                                                            long_caption]))
    # the tokens the forward pass feeds the text tower
    group = RecorderGroup(model, dict(tokens=dict(source='clip.token_embedding', kind='input')),
                          'w')
    with group:
        model(dict(image=torch.rand(2, 3, 32, 32), text=['a cat', long_caption]))
    assert torch.equal(group.get('tokens', 'w'), tokens)


# --------------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize('style', ['raw', 'ddp', 'mmengine'])
def test_local_checkpoint_round_trip(tmp_path, style):
    source = student(init_seed=0).eval()
    state = source.clip.state_dict()
    if style == 'raw':
        payload = state
    elif style == 'ddp':     # open_clip's own training checkpoints
        payload = dict(epoch=3, name='run', state_dict={f'module.{k}': v for k, v in state.items()})
    else:
        payload = dict(meta=dict(epoch=1, iter=10), state_dict=source.state_dict())
        assert all(k.startswith('clip.') for k in payload['state_dict'])
    path = tmp_path / f'{style}.pth'
    torch.save(payload, path)
    fresh = student(init_seed=1).eval()
    assert not same_weights(fresh, source)
    loaded = student(init_seed=1, pretrained=str(path)).eval()
    assert same_weights(loaded, source)
    data = batch()
    a, b = source(data, mode='tensor'), loaded(data, mode='tensor')
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_checkpoint_errors_name_the_file(tmp_path):
    missing = tmp_path / 'nowhere' / 'clip.pth'
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        student(pretrained=str(missing))
    other = tmp_path / 'teacher.pth'
    torch.save(OpenCLIPModel(model_cfg=TEACHER_CFG).clip.state_dict(), other)
    with pytest.raises(CheckpointMismatchError, match=re.escape(str(other))) as err:
        student(pretrained=str(other))
    assert 'shape mismatches' in str(err.value)
    assert 'visual.positional_embedding: checkpoint (37, 96) vs model (17, 64)' in str(err.value)
    renamed = tmp_path / 'renamed.pth'
    torch.save({f'student.{k}': v for k, v in student().state_dict().items()}, renamed)
    with pytest.raises(CheckpointMismatchError, match=re.escape(str(renamed))) as err:
        student(pretrained=str(renamed))
    assert 'missing keys' in str(err.value) and "'student.clip." in str(err.value)
    # weights_only: a pickled object that is not a tensor is refused, naming the file
    unsafe = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict=student().clip.state_dict(), extra=open_clip.SimpleTokenizer),
               unsafe)
    with pytest.raises(RuntimeError, match=re.escape(f"cannot load checkpoint '{unsafe}' with "
                                                     'weights_only=True')):
        student(pretrained=str(unsafe))


def test_checkpoint_position_embeddings_resized_for_other_size_and_context(tmp_path):
    source = student()
    path = tmp_path / 'clip.pth'
    torch.save(source.clip.state_dict(), path)
    bigger = student(init_seed=5, image_size=48, context_length=20, pretrained=str(path))
    assert bigger.clip.visual.positional_embedding.shape == (1 + 36, 64)
    assert bigger.clip.positional_embedding.shape == (20, 64)
    assert torch.equal(bigger.clip.visual.conv1.weight, source.clip.visual.conv1.weight)
    # the class token's position is kept as is
    assert torch.equal(bigger.clip.visual.positional_embedding[0],
                       source.clip.visual.positional_embedding[0])
    assert bigger(batch(), mode='tensor')['image_embeds'].shape == (4, 32)


# ------------------------------------------------------------------------------------- loss
def test_loss_mode_is_the_symmetric_infonce_of_the_tensor_outputs():
    model = student()
    with torch.no_grad():
        model.clip.logit_scale.fill_(math.log(20.0))
    data = batch()
    out = model(data, mode='tensor')
    loss = model(data, mode='loss')
    assert set(loss) == {'loss_clip'}
    logits = out['logit_scale'] * out['image_embeds'] @ out['text_embeds'].t()
    n = logits.size(0)
    image_to_text = -torch.stack([logits[i].log_softmax(0)[i] for i in range(n)]).mean()
    text_to_image = -torch.stack([logits[:, j].log_softmax(0)[j] for j in range(n)]).mean()
    expected = (image_to_text + text_to_image) / 2
    torch.testing.assert_close(loss['loss_clip'], expected)
    torch.testing.assert_close(clip_contrastive_loss(out['image_embeds'], out['text_embeds'],
                                                     out['logit_scale']), expected)
    loss['loss_clip'].backward()
    assert model.clip.logit_scale.grad is not None
    assert model.clip.visual.conv1.weight.grad.abs().sum() > 0
    assert model.clip.token_embedding.weight.grad.abs().sum() > 0


def test_loss_mode_runs_over_the_captioned_pairs_only():
    model = student()
    data = batch()
    out = model(data, mode='tensor')
    captioned = torch.tensor([True, False, True, True])
    loss = model(data, dict(captioned=captioned), mode='loss')['loss_clip']
    torch.testing.assert_close(loss, clip_contrastive_loss(
        out['image_embeds'][captioned], out['text_embeds'][captioned], out['logit_scale']))
    # fewer than two captioned pairs: nothing to contrast, a zero that still back-propagates
    lone = model(data, dict(captioned=torch.tensor([False, True, False, False])), mode='loss')
    assert lone['loss_clip'].item() == 0.0 and lone['loss_clip'].requires_grad
    with pytest.raises(ValueError, match=r"data_samples\['captioned'\]: expected 4 flags"):
        model(data, dict(captioned=torch.tensor([True, False])), mode='loss')


def test_logit_scale_is_clamped_like_open_clip():
    model = student()
    with torch.no_grad():
        model.clip.logit_scale.fill_(math.log(500.0))
    torch.testing.assert_close(model.logit_scale(), torch.tensor(100.0))
    unclamped = student(max_logit_scale=None)
    with torch.no_grad():
        unclamped.clip.logit_scale.fill_(math.log(500.0))
    torch.testing.assert_close(unclamped.logit_scale(), torch.tensor(500.0))


# -------------------------------------------------------------------------------- zero-shot
def recipe_classifier(model):
    """The CLIP recipe, computed text by text outside the model."""
    rows = []
    for name in CLASSES:
        embeds = []
        for template in TEMPLATES:
            text = template(name) if callable(template) else template.format(name)
            embeds.append(F.normalize(model.encode_text([text])[0], dim=0))
        rows.append(F.normalize(torch.stack(embeds).mean(0), dim=0))
    return torch.stack(rows)


def test_zero_shot_classifier_and_predictions():
    model = student(zero_shot=dict(classes=CLASSES, templates=TEMPLATES)).eval()
    assert model.zero_shot_classes == CLASSES
    with torch.no_grad():
        classifier = model.zero_shot_classifier()
        expected = recipe_classifier(model)
        torch.testing.assert_close(classifier, expected)
        data = batch()
        labels = torch.tensor([2, 0, -1, 1])
        preds = model(data, dict(labels=labels, sample_idx=torch.arange(10, 14)), mode='predict')
        out = model(data, mode='tensor')
    assert len(preds) == 4
    scores = (out['logit_scale'] * out['image_embeds'] @ expected.t()).softmax(dim=1)
    for i, pred in enumerate(preds):
        torch.testing.assert_close(pred['scores'], scores[i])
        assert int(pred['pred_label']) == int(scores[i].argmax())
        torch.testing.assert_close(pred['image_embeds'], out['image_embeds'][i])
        torch.testing.assert_close(pred['text_embeds'], out['text_embeds'][i])
        assert pred['text'] == CAPTIONS[i] and int(pred['sample_idx']) == 10 + i
        assert ('gt_label' in pred) == (int(labels[i]) >= 0)
    assert int(preds[0]['gt_label']) == 2
    # without zero-shot classes: embeddings only; without captions: image embeddings only
    plain = student().eval()
    preds = plain(dict(image=data['image']), dict(labels=labels), mode='predict')
    assert set(preds[0]) == {'image_embeds', 'gt_label'}
    with pytest.raises(RuntimeError, match='no zero-shot classes'):
        plain.zero_shot_classifier()


def test_zero_shot_cache_follows_train_and_weight_loads():
    model = student(zero_shot=dict(classes=CLASSES, templates=TEMPLATES)).eval()
    first = model.zero_shot_classifier()
    assert model.zero_shot_classifier() is first          # cached in eval mode
    with torch.no_grad():                                 # change the text tower in place
        model.clip.text_projection.mul_(-1.0)
    assert model.zero_shot_classifier() is first          # stale until train() or a load
    model.train()
    model.eval()
    refreshed = model.zero_shot_classifier()
    torch.testing.assert_close(refreshed, -first)
    torch.testing.assert_close(refreshed, recipe_classifier(model))
    # train mode never caches
    model.train()
    assert model.zero_shot_classifier() is not model.zero_shot_classifier()
    # a weight load (also through a parent's load_state_dict) drops the cache
    model.eval()
    cached = model.zero_shot_classifier()
    other = student(init_seed=7, zero_shot=dict(classes=CLASSES, templates=TEMPLATES)).eval()
    parent = torch.nn.ModuleDict(dict(m=model))
    parent.load_state_dict(torch.nn.ModuleDict(dict(m=other)).state_dict())
    reloaded = model.zero_shot_classifier()
    assert reloaded is not cached
    torch.testing.assert_close(reloaded, other.zero_shot_classifier())
    # and so does a new set of classes
    model.set_zero_shot(CLASSES[:2], TEMPLATES[:1])
    assert model.zero_shot_classifier().shape == (2, 32)


# -------------------------------------------------------------------------------- recorders
def test_recorders_capture_the_named_outputs():
    model = student()
    group = RecorderGroup(model, dict(image='image_embed', text='text_embed',
                                      scale='logit_scale_out',
                                      block='clip.visual.transformer.resblocks.0'), 'w')
    with group:
        out = model(batch(), mode='tensor')
    assert torch.equal(group.get('image', 'w'), out['image_embeds'])
    assert torch.equal(group.get('text', 'w'), out['text_embeds'])
    assert torch.equal(group.get('scale', 'w'), out['logit_scale'])
    # batch-first ViT tokens: class token + 4 x 4 patches of width 64
    assert group.get('block', 'w').shape == (4, 1 + 16, 64)


# ------------------------------------------------------------------- full-size Distill wiring
@pytest.mark.timeout(120)
def test_distill_vit_b_32_teacher_into_a_tiny_student():
    """The issue's wiring check: open_clip ViT-B-32 (random weights) teaches a tiny student
    through Distill, with a feature loss on the image embeddings (student 32 -> teacher 512)."""
    algo = Distill(
        student=dict(type='OpenCLIPModel', model_cfg=STUDENT_CFG),
        teachers=dict(teacher=dict(model=dict(type='OpenCLIPModel', model_name='ViT-B-32'))),
        distiller=dict(
            recorders=dict(student=dict(image='image_embed'), teacher=dict(image='image_embed')),
            connectors=dict(s2t=dict(type='LinearConnector', in_channels=32, out_channels=512)),
            losses=dict(loss_image=dict(type='FeatureMSELoss', loss_weight=100.0, inputs=dict(
                student_feats=dict(source='student.image', connector='s2t'),
                teacher_feats='teacher.image')))))
    teacher = algo.teachers['teacher']
    assert teacher.image_size == (224, 224) and teacher.context_length == 77
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    texts = ['a photo of a cat', 'a diagram of a neural network']
    assert teacher.tokenize(texts).shape == (2, 77)
    assert algo.student.tokenize(texts).shape == (2, 16)
    g = torch.Generator().manual_seed(0)
    data = [dict(inputs=dict(image=torch.rand(2, 3, 224, 224, generator=g), text=texts),
                 data_samples=dict(labels=torch.tensor([-1, -1]), sample_idx=torch.arange(2)))
            for _ in range(2)]
    student_before = {k: v.clone() for k, v in algo.student.state_dict().items()}
    connector_before = [p.detach().clone() for p in algo.distiller.connectors.parameters()]
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    wrapper = OptimWrapper(torch.optim.SGD(algo.parameters(), lr=0.1))
    for step in data:
        log_vars = algo.train_step(step, wrapper)
        assert set(log_vars) == {'loss', 'student.loss_clip', 'distill.loss_image'}
        assert all(math.isfinite(float(v.detach())) for v in log_vars.values())
        assert float(log_vars['distill.loss_image'].detach()) > 0
    after = algo.student.state_dict()
    assert not torch.equal(after['clip.visual.conv1.weight'],
                           student_before['clip.visual.conv1.weight'])
    assert not torch.equal(after['clip.token_embedding.weight'],
                           student_before['clip.token_embedding.weight'])
    assert all(not torch.equal(a, b)
               for a, b in zip(connector_before, algo.distiller.connectors.parameters()))
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key
