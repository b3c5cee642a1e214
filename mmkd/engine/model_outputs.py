"""A trained model's outputs on a whole split, as the distillation losses see them: the raw
material of :func:`mmkd.shared.soft_labels.soft_label_stats` (``tools/analyze_outputs.py``)."""
import copy
from typing import Any, Dict, List, Optional, Tuple

import torch
from mmengine.runner import Runner
from mmengine.runner.utils import set_random_seed
from torch import Tensor

from mmkd.errors import ConfigError
from mmkd.shared.soft_labels import soft_label_stats

from .runner import load_config
from .student import build_student


def collect_logits(config: str, checkpoint: Optional[str], split: str = 'train',
                   passes: int = 1, cfg_options: Optional[Dict[str, Any]] = None,
                   progress: bool = True) -> Tuple[List[Tensor], Tensor]:
    """``([logits [N, C] of each pass], labels [N])`` of the model of ``config`` (the student of
    a distillation config) with ``checkpoint``'s weights, in eval mode, on the ``split``
    dataloader's dataset in order. Each pass draws the split's augmentations anew (pass ``p``
    from seed ``p``), so two passes show how much the outputs depend on them."""
    cfg = load_config(config, None, cfg_options)
    key = f'{split}_dataloader'
    if key not in cfg:
        raise ConfigError(f'{config}: has no {key!r} (split must be train, val or test)')
    model, _ = build_student(cfg, checkpoint)
    loader_cfg = copy.deepcopy(cfg[key])
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False)
    loader_cfg['num_workers'] = 0
    loader_cfg.pop('persistent_workers', None)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    outputs, labels = [], None
    for p in range(passes):
        set_random_seed(p)
        batches = loader
        if progress:
            from tqdm import tqdm
            batches = tqdm(loader, desc=f'{split} pass {p + 1}/{passes}', leave=False)
        logits, seen = [], []
        with torch.no_grad():
            for batch in batches:
                data = model.data_preprocessor(batch, False)
                logits.append(model(**data, mode='tensor').float())
                samples = data['data_samples']  # a label-scarce set hides labels as -1
                seen.append(torch.as_tensor(samples.get('true_labels', samples['labels'])).view(-1))
        outputs.append(torch.cat(logits))
        labels = torch.cat(seen)
    return outputs, labels


def output_stats(config: str, checkpoint: Optional[str], split: str = 'train',
                 temperature: float = 4.0, passes: int = 1,
                 cfg_options: Optional[Dict[str, Any]] = None,
                 progress: bool = True) -> Dict[str, float]:
    """:func:`~mmkd.shared.soft_labels.soft_label_stats` of the model's outputs on ``split``
    (with ``passes=2``, also ``augmentation_kl`` between two draws of the augmentations)."""
    outputs, labels = collect_logits(config, checkpoint, split, passes, cfg_options, progress)
    stats = soft_label_stats(outputs[0], labels, temperature,
                             outputs[1] if passes > 1 else None)
    return dict(stats, samples=int(labels.numel()), temperature=float(temperature))
