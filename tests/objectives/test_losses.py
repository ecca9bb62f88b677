"""Adversarial losses at known logits."""
import math

import pytest
import torch

from ganforge.objectives import LOSSES

REAL, FAKE = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])


def _softplus(x):
    return math.log1p(math.exp(x))


@pytest.mark.parametrize("name, d, g", [
    ("nonsaturating", (_softplus(-2) + _softplus(1) + _softplus(0.5) + _softplus(-3)) / 2,
     (_softplus(-0.5) + _softplus(3)) / 2),
    ("saturating", (_softplus(-2) + _softplus(1) + _softplus(0.5) + _softplus(-3)) / 2,
     -(_softplus(0.5) + _softplus(-3)) / 2),
    ("wasserstein", (0.5 - 3) / 2 - (2 - 1) / 2, -(0.5 - 3) / 2),
    ("hinge", (max(0, 1 - 2) + max(0, 1 + 1)) / 2 + (max(0, 1 + 0.5) + max(0, 1 - 3)) / 2, -(0.5 - 3) / 2),
])
def test_losses_at_known_logits(name, d, g):
    loss = LOSSES[name]
    assert loss.d(REAL, FAKE).item() == pytest.approx(d, rel=1e-6)
    assert loss.g(FAKE).item() == pytest.approx(g, rel=1e-6)


def test_half_precision_logits_are_scored_in_fp32():
    loss = LOSSES["nonsaturating"]
    assert loss.d(REAL.bfloat16(), FAKE.bfloat16()).dtype == torch.float32
