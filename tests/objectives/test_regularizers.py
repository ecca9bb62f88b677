"""Regularizers on D: exact values on a linear critic, and lazy regularization's weighting."""
import torch
from torch import nn

from ganforge.objectives.regularizers import (LazyRegularizer, clip_weights_, drift_penalty,
                                               gradient_penalty, r1_penalty)
from tests.objectives.critics import LinearCritic


def _critic_and_reals(seed=0):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(12, generator=gen)
    return LinearCritic(w), torch.randn(8, 3, 2, 2, generator=gen), gen


def test_r1_of_a_linear_critic_is_the_squared_weight_norm_and_trains_w():
    D, reals, _ = _critic_and_reals()
    penalty = r1_penalty(D, reals)
    torch.testing.assert_close(penalty, D.w.detach().pow(2).sum(), rtol=1e-6, atol=0)
    penalty.backward()  # d ||w||^2 / dw = 2w, through the double backward
    torch.testing.assert_close(D.w.grad, 2 * D.w.detach(), rtol=1e-6, atol=0)


def test_r1_takes_any_critic_function_of_x_and_labels():
    D, reals, _ = _critic_and_reals()
    labels = torch.arange(8)
    seen = []

    def critic(x, y):
        seen.append(y)
        return 3 * D(x)

    torch.testing.assert_close(r1_penalty(critic, reals, labels), 9 * D.w.detach().pow(2).sum())
    assert seen[0] is labels


def test_gradient_penalty_of_a_linear_critic_is_exact():
    D, reals, gen = _critic_and_reals(1)
    fakes = torch.randn(8, 3, 2, 2, generator=gen)
    torch.testing.assert_close(gradient_penalty(D, reals, fakes, generator=gen),
                               (D.w.detach().norm() - 1) ** 2, rtol=1e-6, atol=0)


def test_drift_and_clipping():
    torch.testing.assert_close(drift_penalty(torch.tensor([1.0, -3.0])), torch.tensor(5.0))
    layer = nn.Linear(4, 4)
    with torch.no_grad():
        layer.weight.normal_(0, 1)
    clip_weights_(layer, 0.01)
    assert max(p.abs().max().item() for p in layer.parameters()) <= 0.01


def test_lazy_regularizer_runs_every_k_steps_weighted_by_k():
    calls = []

    def penalty(critic, reals, labels):
        calls.append(len(reals))
        return torch.tensor(2.0)

    lazy = LazyRegularizer("r1", weight=5.0, interval=16, penalty=penalty)
    assert [s for s in range(40) if lazy.due(s)] == [0, 16, 32]
    loss, value = lazy.loss(lambda x, y: x, torch.zeros(3, 1), None)
    assert loss.item() == 5.0 * 16 * 2.0 and value.item() == 2.0 and calls == [3]
