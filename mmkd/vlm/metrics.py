"""Metrics on the ``'predict'`` outputs of :class:`mmkd.vlm.models.OpenCLIPModel`: zero-shot
classification accuracy and image-text retrieval recall."""
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from torch import Tensor

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.shared.accuracy import accuracy
from mmkd.registry import METRICS

__all__ = ['ZeroShotAccuracy', 'RetrievalRecall', 'retrieval_recall']

_ROWS_PER_CHUNK = 1024


@METRICS.register_module()
class ZeroShotAccuracy(BaseMetric):
    """``zeroshot/top<k>`` for each k in ``topk`` and ``zeroshot/mean_class`` (mean of the
    per-class top-1 recalls), in percent, from the predictions' ``scores`` and ``gt_label``.
    A k at least the number of classes counts every sample as correct (100)."""

    default_prefix = 'zeroshot'

    def __init__(self, topk: Sequence[int] = (1, 5), **kwargs) -> None:
        super().__init__(**kwargs)
        self.topk = tuple(int(k) for k in topk)
        if not self.topk or min(self.topk) < 1:
            raise InvalidValueError(f'ZeroShotAccuracy.topk: expected positive ints, got {topk}')

    def process(self, data_batch: Any, data_samples: Sequence[Dict]) -> None:
        for sample in data_samples:
            if 'scores' not in sample:
                raise ConfigError('ZeroShotAccuracy: a prediction has no scores; give the model '
                                  'zero_shot=dict(classes=..., templates=...)')
            if 'gt_label' not in sample:
                raise ConfigError('ZeroShotAccuracy: a prediction has no gt_label; the dataset '
                                  "must give data_samples['labels'] >= 0 (class indices)")
            self.results.append(dict(scores=sample['scores'].detach().float().cpu(),
                                     gt_label=int(sample['gt_label'])))

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        scores = torch.stack([r['scores'] for r in results])
        labels = torch.tensor([r['gt_label'] for r in results])
        num_classes = scores.size(1)
        clipped = accuracy(scores, labels, sorted({min(k, num_classes) for k in self.topk}))
        metrics = {f'top{k}': clipped[f'top{min(k, num_classes)}'] for k in self.topk}
        metrics['mean_class'] = clipped['mean_class']
        return metrics


def _recall_one_way(queries: Tensor, keys: Tensor, query_groups: Tensor, key_groups: Tensor,
                    topk: Sequence[int]) -> Dict[int, float]:
    """Percent of queries whose best-scoring positive key (same group) ranks within the top k:
    the rank is the number of *negative* keys that score strictly higher (ties go to the
    positive)."""
    ranks = []
    for start in range(0, queries.size(0), _ROWS_PER_CHUNK):
        sim = queries[start:start + _ROWS_PER_CHUNK] @ keys.t()
        positive = query_groups[start:start + _ROWS_PER_CHUNK, None] == key_groups[None, :]
        best_positive = sim.masked_fill(~positive, float('-inf')).max(dim=1).values
        ranks.append(((sim > best_positive[:, None]) & ~positive).sum(dim=1))
    rank = torch.cat(ranks)
    return {k: 100.0 * (rank < k).float().mean().item() for k in topk}


def retrieval_recall(image_embeds: Tensor, text_embeds: Tensor,
                     captions: Optional[Sequence[Any]] = None,
                     topk: Sequence[int] = (1, 5, 10)) -> Dict[str, float]:
    """Image->text and text->image recall@k (percent) of ``N`` image-caption pairs, ranked by
    cosine similarity over all ``N`` candidates. Pair ``i`` is the positive of image ``i`` and
    of text ``i``; with ``captions``, every text whose caption string equals image ``i``'s is a
    positive of it too (and, for text->image, every image whose caption equals the query's), so
    duplicate identical captions are not counted as misses (any hashable key works in place of a
    caption string: a class label makes every caption of the class a positive). Keys
    ``i2t_R@k``, ``t2i_R@k`` and ``mean_R@k`` (their mean)."""
    if image_embeds.shape != text_embeds.shape or image_embeds.dim() != 2:
        raise InvalidValueError('retrieval_recall: expected image and text embeddings [N, D] of '
                                f'the same shape, got {tuple(image_embeds.shape)} and '
                                f'{tuple(text_embeds.shape)}')
    images = F.normalize(image_embeds.float(), dim=-1)
    texts = F.normalize(text_embeds.float(), dim=-1)
    if captions is None:
        groups = torch.arange(images.size(0))
    else:
        if len(captions) != images.size(0):
            raise InvalidValueError(f'retrieval_recall: {len(captions)} captions for '
                                    f'{images.size(0)} pairs')
        ids: Dict[str, int] = {}
        groups = torch.tensor([ids.setdefault(c, len(ids)) for c in captions])
    i2t = _recall_one_way(images, texts, groups, groups, topk)
    t2i = _recall_one_way(texts, images, groups, groups, topk)
    metrics = {}
    for k in topk:
        metrics[f'i2t_R@{k}'] = i2t[k]
        metrics[f't2i_R@{k}'] = t2i[k]
        metrics[f'mean_R@{k}'] = (i2t[k] + t2i[k]) / 2
    return metrics


@METRICS.register_module()
class RetrievalRecall(BaseMetric):
    """Image-text retrieval over the whole evaluated set: ``retrieval/i2t_R@k``,
    ``retrieval/t2i_R@k`` and ``retrieval/mean_R@k`` for each k in ``topk`` (percent).

    Each evaluated sample is one image-caption pair; the image's positive is its own caption and
    the caption's positive its own image. Where several samples carry the *identical* caption
    string (e.g. ``'a photo of a dog.'`` for two different images), any of them counts as
    correct in both directions: otherwise the metric would punish the model for an arbitrary
    choice between equal texts. Captions come from the predictions' ``text`` (set by
    :class:`~mmkd.vlm.models.OpenCLIPModel`) or else from ``data_batch['inputs']['text']``;
    without either, only the pair itself is positive. Embeddings are compared by cosine
    similarity; a tie between a positive and a negative is resolved in favour of the positive.

    With ``positives='label'`` a caption is a positive of every image of its class (the
    prediction's ``gt_label``): for datasets whose captions describe only the class, in a few
    templates (Fashion-MNIST's), where equal-caption positives would score which template was
    drawn rather than whether the class was found.
    """

    default_prefix = 'retrieval'

    def __init__(self, topk: Sequence[int] = (1, 5, 10), positives: str = 'caption',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.topk = tuple(int(k) for k in topk)
        if not self.topk or min(self.topk) < 1:
            raise InvalidValueError(f'RetrievalRecall.topk: expected positive ints, got {topk}')
        if positives not in ('caption', 'label'):
            raise InvalidValueError("RetrievalRecall.positives: expected 'caption' or 'label', "
                                    f'got {positives!r}')
        self.positives = positives

    def process(self, data_batch: Any, data_samples: Sequence[Dict]) -> None:
        batch_texts = None
        if isinstance(data_batch, dict) and isinstance(data_batch.get('inputs'), dict):
            batch_texts = data_batch['inputs'].get('text')
        for i, sample in enumerate(data_samples):
            if 'image_embeds' not in sample or 'text_embeds' not in sample:
                raise ConfigError('RetrievalRecall: a prediction lacks image_embeds or '
                                  'text_embeds; '
                                  "the model needs inputs['text'] in predict mode")
            text = sample.get('text')
            if text is None and batch_texts is not None and i < len(batch_texts):
                text = batch_texts[i]
            if self.positives == 'label':
                if 'gt_label' not in sample:
                    raise ConfigError("RetrievalRecall(positives='label'): a prediction has no "
                                      "gt_label; the dataset needs data_samples['labels']")
                text = int(sample['gt_label'])
            self.results.append(dict(image_embeds=sample['image_embeds'].detach().float().cpu(),
                                     text_embeds=sample['text_embeds'].detach().float().cpu(),
                                     text=text))

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        images = torch.stack([r['image_embeds'] for r in results])
        texts = torch.stack([r['text_embeds'] for r in results])
        captions = [r['text'] for r in results]
        if any(c is None for c in captions):
            captions = None
        return retrieval_recall(images, texts, captions, self.topk)
