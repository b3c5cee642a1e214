"""CRD: Tian, Krishnan and Isola, "Contrastive Representation Distillation" (ICLR 2020).

Official code: https://github.com/HobbitLong/RepDistiller (``crd/criterion.py``,
``crd/memory.py``).
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES

from .utils import check_positive


def _nce_loss(scores: Tensor, num_data: int, eps: float = 1e-7) -> Tensor:
    """NCE loss of ``[N, K + 1]`` normalised scores, column 0 the positive.

    With noise probability ``P_n = 1 / num_data`` and ``h(x) = x / (x + K * P_n)`` (``eps`` added
    to the denominator): ``-(sum_i log h(x_i0) + sum_{i, k >= 1} log(1 - h(x_ik))) / N``.
    """
    num_negatives = scores.shape[1] - 1
    noise = num_negatives / num_data
    log_d1 = torch.log(scores[:, 0] / (scores[:, 0] + noise + eps))
    log_d0 = torch.log(noise / (scores[:, 1:] + noise + eps))
    return -(log_d1.sum() + log_d0.sum()) / scores.shape[0]


@LOSSES.register_module()
class CRDLoss(nn.Module):
    """``NCE(student embedding vs teacher memory) + NCE(teacher embedding vs student memory)``.

    Features are flattened per sample, mapped by a trainable ``Linear`` and L2-normalised to
    ``e_s``, ``e_t`` (``[N, embed_dim]``). Two memory banks ``[num_data, embed_dim]`` hold one
    embedding per training sample (``memory_student``, ``memory_teacher``). For each sample the
    contrast set is ``K + 1`` memory rows: column 0 its own ``sample_idx`` (the positive), then
    ``K`` uniformly drawn indices (or ``contrast_idx [N, K + 1]`` when given). Scores are

        x_ik = exp(<e_s[i], memory_teacher[idx_ik]> / T) / Z_s   (and symmetrically for e_t)

    where ``Z`` is estimated once, on the first call, as ``mean(exp(<., .> / T)) * num_data``
    over that batch's scores and then kept fixed (buffers ``z_student``/``z_teacher``, -1 until
    set), as in the official code. After the loss is computed the memory rows of the batch are
    updated without gradient: ``m <- normalize(momentum * m + (1 - momentum) * e)``.

    Args:
        student_channels: size of a flattened student feature (C for pooled ``[N, C]``).
        teacher_channels: size of a flattened teacher feature.
        num_data: number of training samples (rows of each memory bank).
        embed_dim: embedding size (official: 128).
        num_negatives: negatives K per sample (official: 16384; 4096 here by default).
        temperature: NCE temperature T (official: 0.07).
        momentum: memory update momentum (official: 0.5).
        shared_negatives: draw one set of ``K`` negatives for the whole batch instead of one per
            sample. Each sample's NCE term has the same distribution; the negatives of different
            samples are no longer independent. The scores are then one ``[N, D] x [D, K]``
            product instead of a gather of ``N * (K + 1)`` memory rows (``N + K`` rows are read
            instead: 124x fewer for ``N = 128``, ``K = 4096``), which is what makes CRD
            affordable on a CPU.
    """

    shape_pairs = ()

    def __init__(self, student_channels: int, teacher_channels: int, num_data: int,
                 embed_dim: int = 128, num_negatives: int = 4096, temperature: float = 0.07,
                 momentum: float = 0.5, shared_negatives: bool = False) -> None:
        super().__init__()
        check_positive('CRDLoss', temperature=temperature)
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.num_data = num_data
        self.num_negatives = num_negatives
        self.temperature = temperature
        self.momentum = momentum
        self.shared_negatives = shared_negatives
        self.embed_student = nn.Linear(student_channels, embed_dim)
        self.embed_teacher = nn.Linear(teacher_channels, embed_dim)
        # Official initialisation: uniform in [-stdv, stdv], stdv = 1 / sqrt(embed_dim / 3), so
        # each row has unit expected squared norm.
        stdv = 1.0 / math.sqrt(embed_dim / 3)
        self.register_buffer('memory_student',
                             torch.rand(num_data, embed_dim).mul_(2 * stdv).add_(-stdv))
        self.register_buffer('memory_teacher',
                             torch.rand(num_data, embed_dim).mul_(2 * stdv).add_(-stdv))
        self.register_buffer('z_student', torch.tensor(-1.0))
        self.register_buffer('z_teacher', torch.tensor(-1.0))

    def _check_indices(self, name: str, idx: Tensor, shape: tuple) -> None:
        if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            raise InvalidValueError(f'{name} must be an integer tensor, got dtype {idx.dtype}')
        if tuple(idx.shape) != shape:
            raise InvalidValueError(f'{name} must have shape {shape}, got {tuple(idx.shape)}')
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.num_data):
            raise InvalidValueError(f'{name} must lie in [0, num_data) = [0, {self.num_data}), got '
                             f'values in [{int(idx.min())}, {int(idx.max())}]')

    def _embed(self, name: str, feats: Tensor, linear: nn.Linear) -> Tensor:
        flat = feats.flatten(1)
        if flat.shape[1] != linear.in_features:
            raise InvalidValueError(f'{name} flattens to {flat.shape[1]} values per sample but the '
                                    f'loss was built for {linear.in_features} (shape '
                                    f'{tuple(feats.shape)})')
        return F.normalize(linear(flat), p=2, dim=1)

    def _scores(self, embed: Tensor, memory: Tensor, idx: Union[Tensor, Tuple[Tensor, Tensor]],
                z_name: str) -> Tensor:
        """``exp(<embed_i, memory[idx_ik]> / T) / Z``, ``[N, K + 1]``; sets ``Z`` on first use.

        ``idx`` is ``[N, K + 1]`` (a contrast set per sample) or, with shared negatives, the
        pair ``(sample_idx [N], negatives [K])``."""
        if isinstance(idx, tuple):
            sample_idx, negatives = idx
            positives = (memory[sample_idx].detach() * embed).sum(1, keepdim=True)
            logits = torch.cat([positives, embed @ memory[negatives].detach().t()], dim=1)
        else:
            logits = torch.einsum('nkd,nd->nk', memory[idx].detach(), embed)  # [N, K + 1]
        scores = torch.exp(logits / self.temperature)
        z = getattr(self, z_name)
        if z < 0:
            z.copy_(scores.detach().mean() * self.num_data)
        return scores / z

    @torch.no_grad()
    def _update_memory(self, memory: Tensor, embed: Tensor, sample_idx: Tensor) -> None:
        rows = memory[sample_idx] * self.momentum + embed.detach() * (1 - self.momentum)
        memory.index_copy_(0, sample_idx, F.normalize(rows, p=2, dim=1))

    def forward(self, student_feats: Tensor, teacher_feats: Tensor, sample_idx: Tensor,
                contrast_idx: Optional[Tensor] = None) -> Tensor:
        batch_size = student_feats.shape[0]
        if teacher_feats.shape[0] != batch_size:
            raise InvalidValueError('student_feats and teacher_feats must have the same batch '
                                    f'size, got shapes {tuple(student_feats.shape)} and '
                                    f'{tuple(teacher_feats.shape)}')
        self._check_indices('sample_idx', sample_idx, (batch_size, ))
        sample_idx = sample_idx.long()
        if contrast_idx is None and self.shared_negatives:
            contrast_idx = (sample_idx, torch.randint(self.num_data, (self.num_negatives, ),
                                                      device=sample_idx.device))
        elif contrast_idx is None:
            contrast_idx = torch.randint(self.num_data, (batch_size, self.num_negatives + 1),
                                         device=sample_idx.device)
            contrast_idx[:, 0] = sample_idx
        else:
            self._check_indices('contrast_idx', contrast_idx,
                                (batch_size, self.num_negatives + 1))
            contrast_idx = contrast_idx.long()

        embed_s = self._embed('student_feats', student_feats, self.embed_student)
        embed_t = self._embed('teacher_feats', teacher_feats.detach(), self.embed_teacher)
        scores_s = self._scores(embed_s, self.memory_teacher, contrast_idx, 'z_student')
        scores_t = self._scores(embed_t, self.memory_student, contrast_idx, 'z_teacher')
        loss = _nce_loss(scores_s, self.num_data) + _nce_loss(scores_t, self.num_data)

        self._update_memory(self.memory_student, embed_s, sample_idx)
        self._update_memory(self.memory_teacher, embed_t, sample_idx)
        return loss
