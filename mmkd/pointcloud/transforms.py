"""Point-cloud augmentations: small callables on one ``[N, 3]`` cloud.

Each transform is registered in ``mmkd.registry.TRANSFORMS`` and is called as
``transform(points, generator=None)``, where ``points`` is a float ``torch.Tensor`` or a numpy
array of shape ``[N, 3]`` and ``generator`` an optional ``torch.Generator`` that makes the random
ones deterministic (without it they use torch's global RNG, which PyTorch seeds per DataLoader
worker). The input is never modified in place; the result has the input's type (tensor in ->
tensor out, numpy in -> numpy out) and float dtype.
"""
import math
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from mmkd.errors import InvalidValueError, WrongTypeError
from mmkd.registry import TRANSFORMS

PointsLike = Union[torch.Tensor, np.ndarray]

__all__ = ['NormalizeToUnitSphere', 'SamplePoints', 'Jitter', 'RandomRotation',
           'RandomPointDropout', 'Compose', 'build_point_transforms']


def _as_tensor(points: PointsLike, name: str):
    """``(float tensor [N, 3], was_numpy)``; raise a ValueError naming the transform otherwise."""
    was_numpy = isinstance(points, np.ndarray)
    tensor = torch.from_numpy(points) if was_numpy else points
    if not isinstance(tensor, torch.Tensor):
        raise WrongTypeError(f'{name}: expected a torch.Tensor or numpy array of shape [N, 3], got '
                             f'{type(points).__name__}')
    if tensor.dim() != 2 or tensor.shape[1] != 3:
        raise InvalidValueError(f'{name}: expected points of shape [N, 3], got '
                                f'{tuple(tensor.shape)}')
    if not tensor.is_floating_point():
        tensor = tensor.float()
    return tensor, was_numpy


def _back(tensor: torch.Tensor, was_numpy: bool) -> PointsLike:
    return tensor.numpy() if was_numpy else tensor


class _PointTransform:
    """Base: converts to a tensor, calls ``transform``, converts back."""

    def __call__(self, points: PointsLike, generator: Optional[torch.Generator] = None):
        tensor, was_numpy = _as_tensor(points, type(self).__name__)
        return _back(self.transform(tensor, generator), was_numpy)

    def transform(self, points: torch.Tensor,
                  generator: Optional[torch.Generator]) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'


@TRANSFORMS.register_module()
class NormalizeToUnitSphere(_PointTransform):
    """Translate the centroid to the origin and scale so the farthest point has norm 1.

    A cloud whose points all coincide is only centred (nothing to scale).
    """

    def transform(self, points, generator=None):
        if points.shape[0] == 0:
            raise InvalidValueError('NormalizeToUnitSphere: got an empty point cloud')
        centred = points - points.mean(dim=0, keepdim=True)
        scale = centred.norm(dim=1).max()
        return centred / scale if scale > 0 else centred


@TRANSFORMS.register_module()
class SamplePoints(_PointTransform):
    """Pick exactly ``num_points`` points.

    With at least ``num_points`` points: a random subset without replacement. With fewer: every
    point once plus random repeats to fill up, in random order. With ``seed`` (and no generator
    passed) every call draws the same way, whatever the global RNG: evaluation pipelines use it
    so that a test metric does not depend on what ran before.
    """

    def __init__(self, num_points: int, seed: Optional[int] = None) -> None:
        if int(num_points) != num_points or num_points < 1:
            raise InvalidValueError('SamplePoints: num_points must be a positive int, got '
                                    f'{num_points!r}')
        self.num_points = int(num_points)
        self.seed = seed

    def transform(self, points, generator=None):
        if generator is None and self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
        n = points.shape[0]
        if n == 0:
            raise InvalidValueError('SamplePoints: got an empty point cloud')
        if n >= self.num_points:
            index = torch.randperm(n, generator=generator)[:self.num_points]
        else:
            extra = torch.randint(n, (self.num_points - n,), generator=generator)
            index = torch.cat([torch.arange(n), extra])
            index = index[torch.randperm(self.num_points, generator=generator)]
        return points[index.to(points.device)]


@TRANSFORMS.register_module()
class Jitter(_PointTransform):
    """Add Gaussian noise ``N(0, sigma^2)`` per coordinate, clipped to ``[-clip, clip]``."""

    def __init__(self, sigma: float = 0.01, clip: float = 0.05) -> None:
        if sigma < 0 or clip < 0:
            raise InvalidValueError(f'Jitter: sigma and clip must be >= 0, got {sigma}, {clip}')
        self.sigma = sigma
        self.clip = clip

    def transform(self, points, generator=None):
        noise = torch.randn(points.shape, generator=generator, dtype=points.dtype)
        noise = (noise * self.sigma).clamp_(-self.clip, self.clip)
        return points + noise.to(points.device)


def _axis_rotation(axis: str, angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    if axis == 'x':
        m = [[1, 0, 0], [0, c, -s], [0, s, c]]
    elif axis == 'y':
        m = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    else:
        m = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    return torch.tensor(m, dtype=torch.float64)


def random_rotation_matrix(axis: Optional[str] = None,
                           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A float64 ``[3, 3]`` rotation: uniform angle about ``axis`` ('x'/'y'/'z'), or uniform over
    SO(3) (from a normalised Gaussian quaternion) when ``axis`` is None."""
    if axis is not None:
        angle = float(torch.rand((), generator=generator, dtype=torch.float64)) * 2 * math.pi
        return _axis_rotation(axis, angle)
    q = torch.randn(4, generator=generator, dtype=torch.float64)
    w, x, y, z = (q / q.norm()).tolist()
    return torch.tensor([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ], dtype=torch.float64)


@TRANSFORMS.register_module()
class RandomRotation(_PointTransform):
    """Rotate by a uniform random angle about ``axis`` ('x', 'y' or 'z'), or by a uniformly
    random rotation in SO(3) when ``axis`` is None."""

    def __init__(self, axis: Optional[str] = 'z') -> None:
        if axis is not None and axis not in ('x', 'y', 'z'):
            raise InvalidValueError("RandomRotation: axis must be 'x', 'y', 'z' or None, got "
                                    f"{axis!r}")
        self.axis = axis

    def transform(self, points, generator=None):
        rot = random_rotation_matrix(self.axis, generator).to(points.dtype).to(points.device)
        return points @ rot.T


@TRANSFORMS.register_module()
class RandomPointDropout(_PointTransform):
    """PointNet++ style dropout: draw a ratio in ``[0, max_ratio)``, drop each point with that
    probability and overwrite the dropped ones with the first point, so N stays fixed."""

    def __init__(self, max_ratio: float = 0.875) -> None:
        if not 0 <= max_ratio < 1:
            raise InvalidValueError('RandomPointDropout: max_ratio must be in [0, 1), got '
                                    f'{max_ratio}')
        self.max_ratio = max_ratio

    def transform(self, points, generator=None):
        if points.shape[0] == 0:
            return points.clone()
        ratio = float(torch.rand((), generator=generator)) * self.max_ratio
        drop = torch.rand(points.shape[0], generator=generator) <= ratio
        out = points.clone()
        out[drop.to(points.device)] = points[0]
        return out


def _build_one(transform) -> Callable:
    if isinstance(transform, dict):
        return TRANSFORMS.build(transform)
    if callable(transform):
        return transform
    raise WrongTypeError(f'expected a transform config dict or a callable, got {transform!r}')


@TRANSFORMS.register_module()
class Compose:
    """Apply ``transforms`` (callables or config dicts) in order, passing ``generator`` on.

    Callables that do not take a ``generator`` argument are called with the points only.
    """

    def __init__(self, transforms: Sequence = ()) -> None:
        self.transforms = [_build_one(t) for t in transforms]

    def __call__(self, points: PointsLike, generator: Optional[torch.Generator] = None):
        for t in self.transforms:
            if isinstance(t, (_PointTransform, Compose)):
                points = t(points, generator=generator)
            else:
                points = t(points)
        return points

    def __repr__(self) -> str:
        inner = ', '.join(repr(t) for t in self.transforms)
        return f'Compose([{inner}])'


def build_point_transforms(transforms) -> Optional[Callable]:
    """None -> None; a list of dicts/callables -> ``Compose``; a dict or callable -> that."""
    if transforms is None:
        return None
    if isinstance(transforms, (list, tuple)):
        return Compose(transforms)
    return _build_one(transforms)
