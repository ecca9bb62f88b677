"""Mutual-information terms (Chen et al. 2016, InfoGAN): the variational lower bound
I(c; G(z, c)) >= E[log Q(c | G(z, c))] + H(c) is maximised by minimising the negative
log-likelihood of the codes under Q's prediction. Means over the batch, summed over code
dimensions (the log-likelihood of the whole code vector)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def categorical_nll(logits: Tensor, codes: Tensor) -> Tensor:
    """-E[log Q(c)] for a categorical code given Q's logits [N, K] and the drawn codes [N]."""
    return F.cross_entropy(logits.float(), codes)


def gaussian_nll(codes: Tensor, mean: Tensor, log_std: Tensor | None = None) -> Tensor:
    """-E[log N(c; mean, std^2)] for continuous codes [N, D]; log_std None means std = 1."""
    codes, mean = codes.float(), mean.float()
    if log_std is None:
        per_dim = 0.5 * (codes - mean) ** 2 + _HALF_LOG_2PI
    else:
        log_std = log_std.float()
        per_dim = 0.5 * ((codes - mean) * torch.exp(-log_std)) ** 2 + log_std + _HALF_LOG_2PI
    return per_dim.sum(1).mean()
