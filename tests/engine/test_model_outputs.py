"""A model's outputs collected over a real split, and their statistics."""
import os.path as osp

import pytest
import torch

from mmkd.engine.model_outputs import collect_logits, output_stats
from mmkd.errors import ConfigError

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')


def test_output_stats_on_rendered_views(tmp_path):
    """The image teacher of the 2D -> 3D configs on tiny real splits: every sample once, and the
    training split's random rotations change its outputs while the fixed test split does not."""
    config = osp.join(CONFIGS, 'crossmodal', 'mvcnn_teacher_shapes.py')
    options = {'model.channels': (4, 8)}
    for split, count in (('train', 'num_train_per_class'), ('test', 'num_test_per_class')):
        options[f'{split}_dataloader.dataset.dataset.{count}'] = 1
        options[f'{split}_dataloader.dataset.dataset.cache_dir'] = str(tmp_path)
    (first, second), labels = collect_logits(config, None, 'train', 2, options, progress=False)
    assert first.shape == (12, 12) and sorted(labels.tolist()) == list(range(12))
    assert not torch.allclose(first, second)
    (first, second), _ = collect_logits(config, None, 'test', 2, options, progress=False)
    assert torch.equal(first, second)
    stats = output_stats(config, None, 'test', 4.0, 2, options, progress=False)
    assert stats['samples'] == 12 and stats['augmentation_kl'] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ConfigError, match="no 'calib_dataloader'"):
        output_stats(config, None, 'calib', cfg_options=options, progress=False)
