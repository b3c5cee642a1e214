"""Top-k and mean per-class accuracy of scores against labels, shared by the metrics."""
from typing import Dict, Sequence

import torch


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
