"""ZeroShotAccuracy and RetrievalRecall on hand-made predictions with known answers, and on the
predict outputs of a tiny OpenCLIPModel."""
import math

import pytest
import torch

from mmkd.registry import METRICS
from mmkd.vlm.metrics import RetrievalRecall, ZeroShotAccuracy, retrieval_recall
from mmkd.vlm.models import OpenCLIPModel

TINY_CFG = dict(embed_dim=32,
                vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=8, head_width=32),
                text_cfg=dict(context_length=16, vocab_size=49408, width=64, heads=2, layers=2))

# Rows: images 0..3, columns: texts 0..3. Every column is a permutation of 1..4 (so the texts
# have equal norms and cosine similarity ranks like S); the diagonal holds the positives.
S = torch.tensor([[4., 3., 2., 3.],
                  [2., 1., 4., 4.],
                  [1., 2., 3., 1.],
                  [3., 4., 1., 2.]])
# image->text ranks (negatives strictly above the positive in each row): [0, 3, 0, 2]
# text->image ranks (in each column): [0, 3, 1, 2]


def evaluate(metric, predictions, batches=None):
    batches = batches or [None] * len(predictions)
    for data_batch, preds in zip(batches, predictions):
        metric.process(data_batch, preds)
    return metric.evaluate(sum(len(p) for p in predictions))


def test_zero_shot_accuracy_hand_made():
    scores = torch.tensor([[0.7, 0.2, 0.1],     # gt 0: top-1
                           [0.5, 0.3, 0.2],     # gt 1: top-2
                           [0.1, 0.3, 0.6],     # gt 2: top-1
                           [0.2, 0.5, 0.3],     # gt 2: top-2
                           [0.1, 0.8, 0.1]])    # gt 1: top-1
    labels = [0, 1, 2, 2, 1]
    preds = [dict(scores=s, pred_label=s.argmax(), gt_label=torch.tensor(y))
             for s, y in zip(scores, labels)]
    metric = METRICS.build(dict(type='ZeroShotAccuracy', topk=(1, 2, 5)))
    assert isinstance(metric, ZeroShotAccuracy)
    results = evaluate(metric, [preds[:2], preds[2:]])
    assert set(results) == {'zeroshot/top1', 'zeroshot/top2', 'zeroshot/top5',
                            'zeroshot/mean_class'}
    assert results['zeroshot/top1'] == pytest.approx(60.0)
    assert results['zeroshot/top2'] == pytest.approx(100.0)
    assert results['zeroshot/top5'] == pytest.approx(100.0)     # k >= 3 classes
    # per class top-1: class 0 1/1, class 1 1/2, class 2 1/2
    assert results['zeroshot/mean_class'] == pytest.approx(100.0 * 2 / 3)


def test_zero_shot_accuracy_needs_scores_and_labels():
    metric = ZeroShotAccuracy()
    with pytest.raises(KeyError, match='no scores'):
        metric.process(None, [dict(image_embeds=torch.zeros(4), gt_label=0)])
    with pytest.raises(KeyError, match='no gt_label'):
        metric.process(None, [dict(scores=torch.ones(3) / 3)])


def test_retrieval_identity_is_perfect():
    embeds = torch.randn(6, 6) + 10 * torch.eye(6)
    metric = METRICS.build(dict(type='RetrievalRecall'))
    assert isinstance(metric, RetrievalRecall)
    preds = [dict(image_embeds=e, text_embeds=e.clone(), text=f'caption {i}')
             for i, e in enumerate(embeds)]
    results = evaluate(metric, [preds[:4], preds[4:]])
    assert set(results) == {f'retrieval/{d}_R@{k}' for d in ('i2t', 't2i', 'mean')
                            for k in (1, 5, 10)}
    assert all(v == pytest.approx(100.0) for v in results.values())


def test_retrieval_hand_computed_ranks():
    images, texts = torch.eye(4), S.t().contiguous()
    results = retrieval_recall(images, texts, topk=(1, 2, 3))
    assert results == pytest.approx({
        'i2t_R@1': 50.0, 'i2t_R@2': 50.0, 'i2t_R@3': 75.0,
        't2i_R@1': 25.0, 't2i_R@2': 50.0, 't2i_R@3': 75.0,
        'mean_R@1': 37.5, 'mean_R@2': 50.0, 'mean_R@3': 75.0})
    # the same through the metric, with the pairs shuffled: recall does not depend on order
    perm = torch.tensor([2, 0, 3, 1])
    metric = RetrievalRecall(topk=(1, 2, 3))
    preds = [dict(image_embeds=images[i], text_embeds=texts[i], text=f'c{i}') for i in perm]
    metric_results = evaluate(metric, [preds])
    for key, value in results.items():
        assert metric_results[f'retrieval/{key}'] == pytest.approx(value)


def test_retrieval_identical_captions_count_as_correct():
    # Images 0 and 1 both have the caption 'a dog' (identical text embeddings); image 0 is the
    # better match for it, so the text of pair 1 retrieves image 0 first.
    dog = torch.tensor([1.0, 0.5, 0.0])
    images = torch.eye(3)
    texts = torch.stack([dog, dog, torch.tensor([0.0, 0.0, 1.0])])
    captions = ['a dog', 'a dog', 'a cat']
    with_captions = retrieval_recall(images, texts, captions, topk=(1,))
    assert with_captions['i2t_R@1'] == pytest.approx(100.0)
    assert with_captions['t2i_R@1'] == pytest.approx(100.0)
    strict = retrieval_recall(images, texts, None, topk=(1,))
    assert strict['t2i_R@1'] == pytest.approx(200.0 / 3)
    # captions taken from the batch when the predictions do not carry them
    metric = RetrievalRecall(topk=(1,))
    preds = [dict(image_embeds=i, text_embeds=t) for i, t in zip(images, texts)]
    results = evaluate(metric, [preds], [dict(inputs=dict(text=captions))])
    assert results['retrieval/t2i_R@1'] == pytest.approx(100.0)


def test_retrieval_with_class_positives():
    """``positives='label'``: any caption of the image's class is a hit. Images 0 and 1 are
    class 0 under two templates, image 2 class 1; image 1's best text is image 0's caption."""
    images = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    texts = torch.tensor([[1.0, 0.05], [0.2, 1.0], [0.0, 1.0]])
    preds = [dict(image_embeds=i, text_embeds=t, gt_label=torch.tensor(label), text=f't{n}')
             for n, (i, t, label) in enumerate(zip(images, texts, (0, 0, 1)))]
    by_caption = evaluate(RetrievalRecall(topk=(1,)), [preds], [{}])
    by_label = evaluate(RetrievalRecall(topk=(1,), positives='label'), [preds], [{}])
    assert by_caption['retrieval/i2t_R@1'] == pytest.approx(200.0 / 3)  # image 1 picks text 0
    assert by_label['retrieval/i2t_R@1'] == pytest.approx(100.0)
    with pytest.raises(ValueError, match=r"RetrievalRecall.positives: expected 'caption' or "
                                         r"'label', got 'class'"):
        RetrievalRecall(positives='class')
    with pytest.raises(KeyError, match=r'a prediction has no gt_label'):
        evaluate(RetrievalRecall(positives='label'), [[dict(image_embeds=images[0],
                                                             text_embeds=texts[0])]], [{}])


def test_retrieval_rejects_missing_text_embeddings():
    with pytest.raises(KeyError, match='text_embeds'):
        RetrievalRecall().process(None, [dict(image_embeds=torch.zeros(4))])
    with pytest.raises(ValueError, match='same shape'):
        retrieval_recall(torch.zeros(3, 4), torch.zeros(2, 4))


def test_metrics_consume_open_clip_predictions():
    classes = ['cat', 'dog', 'car']
    model = OpenCLIPModel(model_cfg=TINY_CFG, zero_shot=dict(
        classes=classes, templates=['a photo of a {}.', 'a {}'])).eval()
    g = torch.Generator().manual_seed(0)
    captions = ['a cat', 'a dog', 'a car', 'a cat', 'a small dog', 'a blue car']
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    batches, predictions = [], []
    with torch.no_grad():
        for start in (0, 3):
            data = dict(inputs=dict(image=torch.rand(3, 3, 40, 40, generator=g),
                                    text=captions[start:start + 3]),
                        data_samples=dict(labels=labels[start:start + 3],
                                          sample_idx=torch.arange(start, start + 3)))
            batches.append(data)
            predictions.append(model.val_step(data))
    accuracy = evaluate(ZeroShotAccuracy(topk=(1, 5)), predictions, batches)
    pred_labels = torch.stack([p['pred_label'] for preds in predictions for p in preds])
    assert accuracy['zeroshot/top1'] == pytest.approx(
        100.0 * (pred_labels == labels).float().mean().item())
    assert accuracy['zeroshot/top5'] == pytest.approx(100.0)
    recall = evaluate(RetrievalRecall(), predictions, batches)
    images = torch.cat([model.encode_image(b['inputs']['image']) for b in batches])
    texts = model.encode_text(captions)
    expected = retrieval_recall(images, texts, captions)
    for key, value in expected.items():
        assert recall[f'retrieval/{key}'] == pytest.approx(value)
    assert recall['retrieval/i2t_R@10'] == pytest.approx(100.0)    # only 6 candidates
    assert all(math.isfinite(v) for v in recall.values())
