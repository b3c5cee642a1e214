"""Sample-quality metrics for the 16x16 digits diffusion models.

- **FD** (Frechet distance, the FID formula) between Gaussians fitted to classifier features:
  ``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))``. The features are not Inception's: they
  are the 128-d global-pool features (``pool``) of a small CNN trained by this project on the
  16x16 digits (``configs/diffusion/digits_feature_classifier.py``), so FDs are comparable only
  between runs that use the same classifier checkpoint.
- **Noise floor**: the FD of the real test digits against the real training digits' statistics
  (:func:`noise_floor`). A sampler cannot be expected to beat it; it is reported beside every FD.
  FD is biased upwards for small sample counts, so the floor uses as many test images as there
  are samples (capped at the 540 test images).
- **Same-noise MSE** (:func:`sample_mse`): mean squared pixel difference between two sample sets
  drawn from the same initial noise, e.g. a few-step sampler against the teacher's 100-step DDIM.

Public API::

    feature_stats(features [N, D]) -> (mu [D], sigma [D, D])            (float64 numpy)
    frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float
    DigitsFeatureExtractor(checkpoint, model=None)(images [N, 1, 16, 16] in [-1, 1]) -> [N, D]
    digits_images(split, num_samples=None) -> [N, 1, 16, 16] in [-1, 1]
    reference_stats(extractor, split='train') -> (mu, sigma)
    fd_score(extractor, images, reference_stats) -> float
    noise_floor(extractor, num_samples=None, reference=None) -> float
    sample_mse(a, b) -> float
    save_sample_grid(images in [-1, 1], path, nrow=8, padding=2, scale=1) -> path
"""
import io
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmkd.errors import InvalidValueError
from mmkd.fileio import atomic_write_bytes, load_weights, read_checkpoint

__all__ = ['feature_stats', 'frechet_distance', 'DigitsFeatureExtractor', 'FEATURE_CLASSIFIER',
           'digits_images', 'reference_stats', 'fd_score', 'noise_floor', 'sample_mse',
           'save_sample_grid']

#: The classifier of ``configs/diffusion/digits_feature_classifier.py`` (used when a checkpoint
#: carries no config in its ``meta``).
FEATURE_CLASSIFIER = dict(type='ConvClassifier', in_channels=1, channels=(32, 64, 128),
                          convs_per_stage=1)

Stats = Tuple[np.ndarray, np.ndarray]


def feature_stats(features: Union[Tensor, np.ndarray]) -> Stats:
    """Mean ``[D]`` and covariance ``[D, D]`` (unbiased, ``np.cov(rowvar=False)``) of
    ``[N, D]`` features, in float64."""
    x = features.detach().cpu().double().numpy() if isinstance(features, Tensor) \
        else np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InvalidValueError(f'features: expected [N >= 2, D], got shape {x.shape}')
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6) -> float:
    """``||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrtm(sigma1 sigma2))``.

    As pytorch-fid / clean-fid: ``scipy.linalg.sqrtm`` of the product; when the result is not
    finite (near-singular covariances), ``eps * I`` is added to both covariances and it is
    retried; an imaginary part (numerical error) is dropped if it is small (max ``|imag|`` <
    1e-3), else ``ValueError``. The result is clipped at 0 (tiny negative round-off).
    """
    from scipy import linalg
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or \
            sigma1.shape != (mu1.size, mu1.size):
        raise InvalidValueError(f'frechet_distance: shapes do not match: mu {mu1.shape} / '
                                f'{mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}')
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # scipy warns on singular products; handled below
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
        if isinstance(covmean, tuple):  # old scipy: (sqrtm, errest) with disp=False
            covmean = covmean[0]
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
            if isinstance(covmean, tuple):
                covmean = covmean[0]
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise InvalidValueError('frechet_distance: imaginary component '
                                    f'{np.max(np.abs(covmean.imag)):.3g} in sqrtm(sigma1 sigma2)')
        covmean = covmean.real
    fd = diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)
    return float(max(fd, 0.0))


def _model_cfg_from_meta(checkpoint: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The ``model`` of the config text MMEngine stores in ``meta['cfg']``, if any."""
    text = (checkpoint.get('meta') or {}).get('cfg') if isinstance(checkpoint, dict) else None
    if not isinstance(text, str) or 'model' not in text:
        return None
    from mmengine.config import Config
    try:
        model = Config.fromstring(text, file_format='.py').get('model')
    except Exception:  # noqa: BLE001 - fall back to the default architecture
        return None
    return model.to_dict() if hasattr(model, 'to_dict') else model


class DigitsFeatureExtractor:
    """The global-pool features of a trained ``ConvClassifier`` (eval mode, no gradients).

    Args:
        checkpoint: path to an MMEngine checkpoint (or a raw state dict file / dict), loaded
            with ``weights_only=True``.
        model: the classifier config; default: the ``model`` of the config MMEngine saved in the
            checkpoint's ``meta['cfg']``, else :data:`FEATURE_CLASSIFIER`.
        batch_size: images per forward pass.

    ``extractor(images)`` maps ``[N, 1, H, W]`` images in [-1, 1] to ``[N, D]`` float32
    features; ``extractor.logits(images)`` gives the classifier's logits.
    """

    def __init__(self, checkpoint: Union[str, Dict[str, Any]],
                 model: Optional[Dict[str, Any]] = None, batch_size: int = 256) -> None:
        from mmengine.registry import init_default_scope

        import mmkd.classification  # noqa: F401  (registers ConvClassifier)
        from mmkd.registry import MODELS
        loaded = read_checkpoint(checkpoint, 'classifier')
        model_cfg = dict(model or _model_cfg_from_meta(loaded) or FEATURE_CLASSIFIER)
        init_default_scope('mmkd')
        self.model = MODELS.build(model_cfg).eval()
        load_weights(self.model, loaded, 'classifier')
        self.model.requires_grad_(False)
        self.model_cfg, self.batch_size = model_cfg, batch_size
        self.checkpoint = checkpoint if isinstance(checkpoint, str) else None

    @torch.no_grad()
    def _run(self, images: Tensor, logits: bool) -> Tensor:
        if images.dim() != 4:
            raise InvalidValueError(f'images: expected [N, C, H, W], got {tuple(images.shape)}')
        out = []
        for chunk in images.float().split(self.batch_size):
            feats = self.model.pool(self.model.backbone(chunk))
            out.append(self.model.head(feats) if logits else feats)
        return torch.cat(out)

    def __call__(self, images: Tensor) -> Tensor:
        return self._run(images, logits=False)

    def logits(self, images: Tensor) -> Tensor:
        return self._run(images, logits=True)


def digits_images(split: str = 'train', num_samples: Optional[int] = None,
                  image_size: int = 16) -> Tensor:
    """The real digits as the diffusion models see them (``DigitsImages``): ``[N, 1, S, S]``."""
    from .datasets import DigitsImages
    images = DigitsImages(split, image_size=image_size).images
    return images if num_samples is None else images[:num_samples]


def reference_stats(extractor: DigitsFeatureExtractor, split: str = 'train') -> Stats:
    """Feature statistics of the real digits of ``split`` (1257 training images by default)."""
    return feature_stats(extractor(digits_images(split)))


def fd_score(extractor: DigitsFeatureExtractor, images: Tensor, reference: Stats) -> float:
    """FD between ``images`` ([-1, 1]; clamped) and ``reference = (mu, sigma)``."""
    return frechet_distance(*feature_stats(extractor(images.clamp(-1, 1))), *reference)


def noise_floor(extractor: DigitsFeatureExtractor, num_samples: Optional[int] = None,
                reference: Optional[Stats] = None) -> float:
    """The train-vs-test FD of the real digits: FD of the first ``num_samples`` test images (all
    540 when None or larger) against ``reference`` (default: the training images' stats)."""
    reference = reference if reference is not None else reference_stats(extractor, 'train')
    return fd_score(extractor, digits_images('test', num_samples), reference)


def sample_mse(a: Tensor, b: Tensor) -> float:
    """Mean squared difference of two sample sets of the same shape (same initial noise)."""
    if a.shape != b.shape:
        raise InvalidValueError(f'sample_mse: shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}')
    return float(((a.double() - b.double()) ** 2).mean())


def save_sample_grid(images: Tensor, path: str, nrow: int = 8, padding: int = 2,
                     scale: int = 1, pad_value: float = 1.0) -> str:
    """Write ``[N, C, H, W]`` images in [-1, 1] (clamped) as one PNG grid, atomically.

    Layout as ``torchvision.utils.make_grid``: ``nrow`` images per row, ``padding`` pixels
    around each (``pad_value`` in [0, 1], white by default), after a nearest-neighbour upscale by
    ``scale``: the PNG is ``ncol * (W * scale + padding) + padding`` wide with
    ``ncol = min(nrow, N)``. Returns ``path``.
    """
    from PIL import Image
    from torchvision.utils import make_grid
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise InvalidValueError(f'images: expected [N, 1 or 3, H, W], got {tuple(images.shape)}')
    x = (images.detach().float().cpu().clamp(-1, 1) + 1) / 2
    if scale > 1:
        x = torch.nn.functional.interpolate(x, scale_factor=scale, mode='nearest')
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=pad_value)
    array = (grid * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(np.ascontiguousarray(array[..., 0] if images.shape[1] == 1
                                                 else array))
    buffer = io.BytesIO()
    image.save(buffer, format='PNG')
    atomic_write_bytes(buffer.getvalue(), path)
    return str(path)

