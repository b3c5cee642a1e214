"""Soft-label statistics on known cases."""
import math

import pytest
import torch

from mmkd.shared.soft_labels import expected_calibration_error, soft_label_stats


def test_confident_and_correct_logits():
    labels = torch.tensor([0, 1, 2, 1])
    logits = 50.0 * torch.nn.functional.one_hot(labels, 3).float()
    stats = soft_label_stats(logits, labels, temperature=1.0)
    assert stats['top1'] == 100.0
    assert stats['nll'] < 1e-12 and stats['ece'] < 1e-9
    assert stats['target_prob'] == pytest.approx(1.0) and stats['entropy'] < 1e-12
    # the wrong classes are tied: their renormalised distribution is uniform
    assert stats['nontarget_entropy'] == pytest.approx(1.0)


def test_uniform_logits():
    labels = torch.zeros(6, dtype=torch.long)
    stats = soft_label_stats(torch.zeros(6, 5), labels, temperature=4.0)
    assert stats['target_prob'] == pytest.approx(0.2) and stats['max_prob'] == pytest.approx(0.2)
    assert stats['entropy'] == pytest.approx(1.0)
    assert stats['nll'] == pytest.approx(math.log(5))
    # argmax of ties is class 0, the label: accuracy 1 at confidence 0.2
    assert stats['ece'] == pytest.approx(80.0)


def test_temperature_softens_and_ranks_wrong_classes():
    labels = torch.tensor([0])
    logits = torch.tensor([[4.0, 2.0, 0.0]])
    sharp, soft = (soft_label_stats(logits, labels, t) for t in (1.0, 4.0))
    assert soft['entropy'] > sharp['entropy'] and soft['target_prob'] < sharp['target_prob']
    p = torch.tensor([math.exp(0.5), 1.0])  # the two wrong classes at T=4, renormalised
    p = p / p.sum()
    assert soft['nontarget_entropy'] == pytest.approx(float(-(p * p.log()).sum() / math.log(2)))


def test_expected_calibration_error_known_case():
    probs = torch.tensor([[0.8, 0.2], [0.8, 0.2], [0.3, 0.7]])
    labels = torch.tensor([0, 1, 1])
    # bin of 0.8: accuracy 1/2 at confidence 0.8 (2 of 3 samples); bin of 0.7: 1 at 0.7
    assert expected_calibration_error(probs, labels, num_bins=10) == pytest.approx(
        100 * (2 / 3 * 0.3 + 1 / 3 * 0.3))


def test_augmentation_kl():
    labels = torch.tensor([0, 1])
    a = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    assert soft_label_stats(a, labels, 2.0, a.clone())['augmentation_kl'] == pytest.approx(0.0)
    b = torch.tensor([[0.0, 0.5], [0.0, 1.0]])
    p, q = torch.tensor([1.0, 0.0]).softmax(0), torch.tensor([0.0, 0.25]).softmax(0)
    # KL(first pass || second pass), averaged over the batch; only the first sample differs
    expected = float((p * (p / q).log()).sum()) / 2
    assert expected != pytest.approx(float((q * (q / p).log()).sum()) / 2)
    assert soft_label_stats(a, labels, 2.0, b)['augmentation_kl'] == pytest.approx(expected)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r'logits \[N, C\] and labels \[N\]'):
        soft_label_stats(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r'labels must be class indices in \[0, 2\), got -1'):
        soft_label_stats(torch.zeros(3, 2), torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match='temperature must be > 0'):
        soft_label_stats(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), 0.0)
    with pytest.raises(ValueError, match='other_logits'):
        soft_label_stats(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), 1.0,
                         torch.zeros(2, 2))
