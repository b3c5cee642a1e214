"""Classification accuracy: overall top-k and mean per-class accuracy."""
from typing import Any, Dict, List, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mmkd.registry import METRICS


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
                raise KeyError('Accuracy: a prediction has no gt_label; the dataset must give '
                               "data_samples['labels']")
            self.results.append(dict(scores=sample['scores'].detach().cpu(),
                                     gt_label=int(sample['gt_label'])))

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        scores = torch.stack([r['scores'] for r in results])
        labels = torch.tensor([r['gt_label'] for r in results])
        return accuracy(scores, labels, self.topk)


def accuracy(scores: torch.Tensor, labels: torch.Tensor,
             topk: Sequence[int] = (1,)) -> Dict[str, float]:
    """Top-k accuracies and the mean of per-class top-1 recalls, in percent."""
    metrics = {}
    ranked = scores.topk(max(topk), dim=1).indices
    for k in topk:
        metrics[f'top{k}'] = 100.0 * (ranked[:, :k] == labels[:, None]).any(1).float().mean().item()
    correct = ranked[:, 0] == labels
    per_class = [correct[labels == c].float().mean().item() for c in labels.unique()]
    metrics['mean_class'] = 100.0 * sum(per_class) / len(per_class)
    return metrics
