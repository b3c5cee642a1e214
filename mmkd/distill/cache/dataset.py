"""The training side of the cache: replaying augmentation ``a`` of sample ``i`` exactly (seeded
global RNGs) and the dataset that attaches the cached teacher outputs to each sample."""
import functools
import random
from contextlib import contextmanager
from typing import Dict, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from mmkd.errors import InvalidValueError, WrongTypeError
from mmkd.registry import DATASETS

from .key import REBUILD_HINT, TeacherCacheMismatchError, data_key
from .reader import TeacherCache

# ----------------------------------------------------------------------------- replay
@functools.lru_cache(maxsize=1 << 20)  # 40 us a call; a training run asks again every epoch
def augmentation_seed(seed: int, index: int, aug: int) -> int:
    """The RNG seed of augmentation ``aug`` of sample ``index``."""
    return int(np.random.SeedSequence((int(seed), int(index), int(aug))).generate_state(1)[0])


# name -> (get state, set state, seed) of a global RNG; torch's CPU generator only:
# torch.manual_seed also seeds every accelerator (0.3 ms a call)
GLOBAL_RNGS = dict(
    torch=(torch.get_rng_state, torch.set_rng_state, torch.default_generator.manual_seed),
    numpy=(np.random.get_state, np.random.set_state, np.random.seed),
    python=(random.getstate, random.setstate, random.seed))
ALL_RNGS = tuple(GLOBAL_RNGS)


@contextmanager
def seeded_rngs(seed: int, rngs: Sequence[str] = ALL_RNGS) -> Iterator[None]:
    """Seed the global RNGs named in ``rngs`` (of torch's CPU generator, numpy's and python's);
    restore their states on exit."""
    unknown = set(rngs) - set(ALL_RNGS)
    if unknown:
        raise InvalidValueError(f'rngs: expected names among {ALL_RNGS}, got {sorted(unknown)}')
    states = {name: GLOBAL_RNGS[name][0]() for name in rngs}
    for name in rngs:
        GLOBAL_RNGS[name][2](seed)
    try:
        yield
    finally:
        for name, state in states.items():
            GLOBAL_RNGS[name][1](state)


class ReplayedAugmentations(Dataset):
    """Every recorded augmentation of ``dataset``: item ``i * num_augs + a`` is augmentation
    ``a`` of sample ``i``, with ``data_samples['aug_idx'] = a``. What the cache tool iterates.
    The RNGs seeded per item are the dataset's ``replay_rngs`` (default: all three)."""

    def __init__(self, dataset: Dataset, num_augs: int, seed: int = 0) -> None:
        if int(num_augs) != num_augs or num_augs < 1:
            raise InvalidValueError(f'num_augs: expected a positive int, got {num_augs!r}')
        self.dataset, self.num_augs, self.seed = dataset, int(num_augs), int(seed)
        self.rngs = tuple(getattr(dataset, 'replay_rngs', ALL_RNGS))

    def __len__(self) -> int:
        return len(self.dataset) * self.num_augs

    def item(self, index: int, aug: int) -> Dict:
        """Augmentation ``aug`` of sample ``index``, the same on every call."""
        with seeded_rngs(augmentation_seed(self.seed, index, aug), self.rngs):
            item = self.dataset[index]
        if not isinstance(item, dict) or not isinstance(item.get('data_samples'), dict):
            raise WrongTypeError(f'{type(self.dataset).__name__}[{index}]: expected '
                                 'dict(inputs=..., data_samples=dict(...)) to replay '
                                 'augmentations')
        return dict(item, data_samples=dict(item['data_samples'], aug_idx=aug))

    def __getitem__(self, index: int) -> Dict:
        return self.item(index // self.num_augs, index % self.num_augs)


@DATASETS.register_module()
class TeacherCacheDataset(Dataset):
    """A training set with cached teacher outputs: sample ``i`` is one of its ``num_augs``
    recorded augmentations (drawn from torch's global RNG), replayed exactly, with that
    augmentation's teacher recordings in ``data_samples['teacher_outputs']``.

    Args:
        dataset: the config of the wrapped dataset, exactly as the cache was made from.
        path: the cache directory written by ``tools/cache_teacher.py``.
        num_augs: augmentations per sample in the cache.
        seed: the seed the augmentations were drawn from.
    """

    def __init__(self, dataset: dict, path: str, num_augs: int, seed: int = 0) -> None:
        if not isinstance(dataset, dict):
            raise WrongTypeError('train_dataloader.dataset.dataset: expected the config dict of '
                                 'the wrapped dataset (it is part of the cache key), got '
                                 f'{type(dataset).__name__}')
        self.cache = TeacherCache(path)
        self.cache.check(data_key(dataset, num_augs, seed), 'train_dataloader.dataset')
        self.replay = ReplayedAugmentations(DATASETS.build(dataset), num_augs, seed)
        if len(self.replay.dataset) != self.cache.num_samples:
            raise TeacherCacheMismatchError(
                f'train_dataloader.dataset: the dataset has {len(self.replay.dataset)} samples, '
                f'the teacher cache {path!r} {self.cache.num_samples}; '
                + REBUILD_HINT.format(path=path))

    @property
    def metainfo(self) -> dict:
        return getattr(self.replay.dataset, 'metainfo', {})

    def __len__(self) -> int:
        return len(self.replay.dataset)

    def __getitem__(self, index: int) -> Dict:
        aug = int(torch.randint(self.replay.num_augs, ()))
        item = self.replay.item(index, aug)
        item['data_samples']['teacher_outputs'] = self.cache.sample_outputs(index, aug)
        return item
