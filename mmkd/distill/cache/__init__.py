"""Teacher-output cache: run the teachers once, train many times (MobileCLIP-style dataset
reinforcement).

``tools/cache_teacher.py CONFIG --num-augs K`` draws K augmentations of every training sample,
runs the teachers on them and stores what the distiller records from the teachers (the
``<teacher>.<recorder>`` tensors the losses read) in safetensors shards, with a manifest::

    DIR/manifest.json            key, layout of each recording, shards (sample range, bytes, sha256)
    DIR/shard_00000.safetensors  '<teacher>.<recorder>': [samples, K, rows, ...] per recording
    DIR/shared.safetensors       recordings that are the same for every batch (a logit scale)

Augmentation ``a`` of sample ``i`` is drawn with torch's (CPU), numpy's and python's global RNGs
seeded from ``(seed, i, a)`` (and restored afterwards), so any dataset whose transforms use those
RNGs replays it exactly, in any DataLoader worker. A dataset whose augmentations draw from fewer
of them says so in a ``replay_rngs`` attribute (e.g. ``('torch',)``): saving and restoring
numpy's and python's states costs about 0.2 ms per sample, more than a small student's step per
sample. Training with the cache::

    teacher_cache_dir = 'work_dirs/teacher_cache/kd_cnn_digits'
    model = dict(teacher_cache=dict(path=teacher_cache_dir))         # teachers are not built
    train_dataloader = dict(dataset=dict(
        _delete_=True, type='TeacherCacheDataset', path=teacher_cache_dir, num_augs=8, seed=0,
        dataset=dict(type='DigitsDataset', split='train', max_shift=1)))

The dataset picks one of the K augmentations per sample and epoch (from torch's global RNG, which
``EpochSeedHook`` seeds), replays it and attaches that augmentation's teacher recordings as
``data_samples['teacher_outputs']``. The cache key, checked by the model (teacher checkpoints'
sha256, teacher configs, recorders, data preprocessor) and by the dataset (dataset config with its
transform parameters, K, seed), makes a cache that does not fit the config an error that names what
differs.

How a recording is split per sample, decided on the first batch and checked on every other one:
a tensor whose first dimension is a multiple of the batch size ``B`` has ``rows = len // B`` rows
per sample (``[B, C]`` logits: 1 row; per-point features of ``B`` clouds of ``N`` points ``[B * N,
C]``: N rows); an integer vector equal to ``arange(B).repeat_interleave(rows)`` (PyG's ``batch``)
is rebuilt for each batch instead of stored; any other tensor must be the same in every batch and
is stored once.
"""

from .dataset import (ALL_RNGS, GLOBAL_RNGS, ReplayedAugmentations, TeacherCacheDataset,
                      augmentation_seed, seeded_rngs)
from .key import (MANIFEST, TeacherCacheError, TeacherCacheMismatchError, check_cacheable,
                  data_key, file_sha256, teacher_key)
from .reader import TeacherCache
from .writer import cache_settings, write_teacher_cache

__all__ = ['ALL_RNGS', 'GLOBAL_RNGS', 'MANIFEST', 'ReplayedAugmentations', 'TeacherCache',
           'TeacherCacheDataset', 'TeacherCacheError', 'TeacherCacheMismatchError',
           'augmentation_seed', 'cache_settings', 'check_cacheable', 'data_key', 'file_sha256',
           'seeded_rngs', 'teacher_key', 'write_teacher_cache']
