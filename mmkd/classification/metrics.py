"""Classification accuracy: overall top-k and mean per-class accuracy."""
from typing import Any, Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmkd.errors import ConfigError
from mmkd.registry import METRICS
from mmkd.shared.accuracy import accuracy


@METRICS.register_module()
class Accuracy(BaseMetric):
    """``accuracy/top<k>`` for each k in ``topk`` and ``accuracy/mean_class`` (in percent)."""

    default_prefix = 'accuracy'

    def __init__(self, topk: Sequence[int] = (1,), **kwargs) -> None:
        super().__init__(**kwargs)
        self.topk = tuple(topk)

    def process(self, data_batch: Any, data_samples: Sequence[Dict]) -> None:
        for sample in data_samples:
            if 'gt_label' not in sample:
                raise ConfigError('Accuracy: a prediction has no gt_label; the dataset must give '
                                  "data_samples['labels']")
            self.results.append(dict(scores=sample['scores'].detach().cpu(),
                                     gt_label=int(sample['gt_label'])))

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        scores = torch.stack([r['scores'] for r in results])
        labels = torch.tensor([r['gt_label'] for r in results])
        return accuracy(scores, labels, self.topk)
