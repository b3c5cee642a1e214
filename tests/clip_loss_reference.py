"""Plain-Python references for the CLIP distillation losses' golden tests (tests/vlm): the
papers' formulas as loops over the anchors i and candidates j, on embeddings made here."""
import math

import torch

from conftest import randn
from mmkd.vlm.losses import AFDLoss, FDLoss, ICLLoss

B, D_S, D_T = 5, 4, 6


def embeds(dim_s=D_S, dim_t=D_T, seed=0, scale=2.0):
    """Unnormalised student (image, text) and teacher (image, text) embeddings."""
    return (randn(B, dim_s, seed=seed + 1) * scale, randn(B, dim_s, seed=seed + 2) * scale,
            randn(B, dim_t, seed=seed + 3) * scale, randn(B, dim_t, seed=seed + 4) * scale)


S_SCALE, T_SCALE = 7.5, 12.0


def unit_rows(x):
    rows = x.tolist() if torch.is_tensor(x) else x
    return [[v / math.sqrt(sum(a * a for a in row)) for v in row] for row in rows]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def logits(anchors, keys, scale):
    return [[scale * dot(a, k) for k in keys] for a in anchors]


def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def soft_ce(student_logits, teacher_logits):
    """-1/B sum_i sum_j q_ij log p_ij."""
    total = 0.0
    for s_row, t_row in zip(student_logits, teacher_logits):
        p, q = softmax(s_row), softmax(t_row)
        total -= sum(q[j] * math.log(p[j]) for j in range(len(p)))
    return total / len(student_logits)


def kl(student_logits, teacher_logits):
    """1/B sum_i sum_j q_ij (log q_ij - log p_ij)."""
    total = 0.0
    for s_row, t_row in zip(student_logits, teacher_logits):
        p, q = softmax(s_row), softmax(t_row)
        total += sum(q[j] * (math.log(q[j]) - math.log(p[j])) for j in range(len(p)))
    return total / len(student_logits)


def entropy(teacher_logits):
    total = 0.0
    for row in teacher_logits:
        q = softmax(row)
        total -= sum(v * math.log(v) for v in q)
    return total / len(teacher_logits)


def info_nce(lg):
    """-1/B sum_k log softmax(lg[k])[k]."""
    return -sum(math.log(softmax(row)[k]) for k, row in enumerate(lg)) / len(lg)


def mse(a, b):
    a, b = (x.tolist() if torch.is_tensor(x) else x for x in (a, b))
    n = sum(len(row) for row in a)
    return sum((x - y) ** 2 for ra, rb in zip(a, b) for x, y in zip(ra, rb)) / n


def affinity_terms(si, st, ti, tt, s_scale, t_scale, div):
    """(div(I2T), div(T2I)) of the in-batch affinity distributions, each model its own scale."""
    si, st, ti, tt = map(unit_rows, (si, st, ti, tt))
    return (div(logits(si, st, s_scale), logits(ti, tt, t_scale)),
            div(logits(st, si, s_scale), logits(tt, ti, t_scale)))


def scalar(v, grad=False):
    return torch.tensor(v, dtype=torch.float64, requires_grad=grad)


def call(loss, si, st, ti, tt, s_scale, t_scale):
    """Call any of the losses with the arguments its forward takes."""
    if isinstance(loss, FDLoss):
        return loss(si, st, ti, tt)
    if isinstance(loss, (ICLLoss, AFDLoss)):
        return loss(si, st, ti, tt, s_scale)
    return loss(si, st, ti, tt, s_scale, t_scale)
