"""mmkd.diffusion.metrics: the Frechet distance, the feature extractor and the sample grid."""
import numpy as np
import pytest
import torch
from PIL import Image

from mmkd.diffusion.metrics import (DigitsFeatureExtractor, fd_score, feature_stats,
                                    frechet_distance, noise_floor, reference_stats, sample_mse,
                                    save_sample_grid)

TINY = dict(type='ConvClassifier', in_channels=1, channels=(4, 8))


def test_fd_identical_stats_is_zero():
    rng = np.random.default_rng(0)
    mu, sigma = feature_stats(rng.normal(size=(200, 6)))
    assert mu.shape == (6,) and sigma.shape == (6, 6)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0, abs=1e-8)


def test_fd_diagonal_gaussians_closed_form_and_symmetry():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.5, 0.0])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([2.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    fd = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert fd == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu2, np.diag(s2), mu1, np.diag(s1)) == pytest.approx(fd, rel=1e-9)


def test_fd_full_covariances_symmetric_and_singular():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    s1, s2 = a @ a.T, b @ b.T
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        frechet_distance(mu2, s2, mu1, s1), rel=1e-6)
    # 1-d: (mu1 - mu2)^2 + (sqrt(s1) - sqrt(s2))^2
    assert frechet_distance([0.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(2.0)
    # rank-deficient covariances (fewer samples than dims) stay finite and >= 0
    x, y = rng.normal(size=(3, 8)), rng.normal(size=(3, 8)) + 1
    fd = frechet_distance(*feature_stats(x), *feature_stats(y))
    assert np.isfinite(fd) and fd >= 0
    with pytest.raises(ValueError):
        frechet_distance(mu1, s1, mu2[:4], s2[:4, :4])


def _save_classifier(path, model_cfg=None, meta_cfg=True):
    from mmengine.registry import init_default_scope

    import mmkd.classification  # noqa: F401
    from mmkd.registry import MODELS
    init_default_scope('mmkd')
    torch.manual_seed(0)
    model = MODELS.build(dict(model_cfg or TINY))
    meta = dict(cfg=f'model = {dict(model_cfg or TINY)!r}\n') if meta_cfg else {}
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return model.eval()


def test_feature_extractor_round_trip(tmp_path):
    path = str(tmp_path / 'clf.pth')
    model = _save_classifier(path)
    images = torch.rand(5, 1, 16, 16) * 2 - 1
    extractor = DigitsFeatureExtractor(path)          # architecture from meta['cfg']
    feats = extractor(images)
    assert feats.shape == (5, 8)
    with torch.no_grad():
        assert torch.equal(feats, model.pool(model.backbone(images)))
        assert torch.equal(extractor.logits(images), model(images))
    # same weights with the architecture given explicitly: identical features
    torch.save(torch.load(path, weights_only=True)['state_dict'], tmp_path / 'raw.pth')
    again = DigitsFeatureExtractor(str(tmp_path / 'raw.pth'), model=TINY)
    assert torch.equal(again(images), feats)
    with pytest.raises(KeyError):
        DigitsFeatureExtractor(str(tmp_path / 'raw.pth'))   # default 3-stage net does not fit


def test_fd_score_noise_floor_and_mse(tmp_path):
    path = str(tmp_path / 'clf.pth')
    _save_classifier(path)
    extractor = DigitsFeatureExtractor(path)
    ref = reference_stats(extractor)
    floor = noise_floor(extractor, 100, ref)
    assert np.isfinite(floor) and floor >= 0
    from mmkd.diffusion.metrics import digits_images
    train = digits_images('train')
    assert fd_score(extractor, train, ref) == pytest.approx(0, abs=1e-6)
    noise = torch.randn(100, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert fd_score(extractor, noise, ref) > floor
    assert sample_mse(noise, noise) == 0
    assert sample_mse(torch.zeros(2, 3), torch.ones(2, 3)) == 1
    with pytest.raises(ValueError):
        sample_mse(torch.zeros(2, 3), torch.ones(3, 3))


def test_save_sample_grid_png_size(tmp_path):
    images = torch.rand(10, 1, 16, 16) * 2 - 1
    path = save_sample_grid(images, str(tmp_path / 'sub' / 'grid.png'), nrow=4)
    with Image.open(path) as png:
        assert png.size == (4 * 18 + 2, 3 * 18 + 2) and png.mode == 'L'
    path = save_sample_grid(images[:3], str(tmp_path / 'g2.png'), nrow=8, padding=1, scale=2)
    with Image.open(path) as png:
        assert png.size == (3 * 33 + 1, 33 + 1)
        # a pixel of the first image (scaled, after the 1-pixel border) keeps its value
        value = (images[0, 0, 0, 0].item() + 1) / 2 * 255
        assert abs(png.getpixel((1, 1)) - value) <= 1
