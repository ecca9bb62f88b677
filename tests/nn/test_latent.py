import math

import numpy as np
import pytest
import torch
from scipy import stats

from ganforge.nn import Latent, lerp, render_batches, slerp, truncated_normal


def _truncated_variance(t: float) -> float:
    pdf, cdf = stats.norm.pdf(t), stats.norm.cdf(t)
    return 1 - 2 * t * pdf / (2 * cdf - 1)


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_truncated_normal_stays_within_threshold_and_matches_moments(threshold):
    generator = torch.Generator().manual_seed(0)
    sample = truncated_normal((1000, 1000), threshold, generator=generator).double()
    assert sample.shape == (1000, 1000)
    assert sample.abs().max().item() <= threshold
    variance = stats.truncnorm.var(-threshold, threshold)
    assert variance == pytest.approx(_truncated_variance(threshold), rel=1e-12)
    n = sample.numel()
    assert abs(sample.mean().item()) < 5 * math.sqrt(variance / n)
    # Relative SE of a sample variance is sqrt((kurtosis - 1) / n) < 1.5e-3 here; 5 SE.
    assert sample.var().item() == pytest.approx(variance, rel=5e-3)
    ks = stats.kstest(sample.flatten()[:200_000].numpy(), stats.truncnorm(-threshold, threshold).cdf)
    assert ks.pvalue > 1e-3


def test_truncated_normal_redraws_only_offending_entries():
    threshold = 1.0
    plain = torch.randn(10_000, generator=torch.Generator().manual_seed(3))
    truncated = truncated_normal(10_000, threshold, generator=torch.Generator().manual_seed(3))
    inside = plain.abs() <= threshold
    assert torch.equal(truncated[inside], plain[inside])
    assert not torch.equal(truncated[~inside], plain[~inside].clamp(-threshold, threshold))


@pytest.mark.parametrize("threshold", [None, 0, -1.0])
def test_no_truncation_for_missing_or_non_positive_threshold(threshold):
    sample = truncated_normal((1000, 1000), threshold, generator=torch.Generator().manual_seed(1))
    assert sample.abs().max().item() > 4.0
    assert sample.var().item() == pytest.approx(1.0, rel=5e-3)


def test_truncated_normal_is_reproducible_and_honours_dtype():
    a = truncated_normal((4, 128), 0.7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    b = truncated_normal((4, 128), 0.7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert a.dtype == torch.float64 and torch.equal(a, b)


def test_lerp_hits_endpoints_and_broadcasts_over_steps():
    torch.manual_seed(0)
    a, b = torch.randn(8), torch.randn(8)
    assert torch.equal(lerp(a, b, 0.0), a)
    torch.testing.assert_close(lerp(a, b, 1.0), b, rtol=0, atol=1e-7)
    path = lerp(a, b, torch.linspace(0, 1, 5))
    assert path.shape == (5, 8)
    torch.testing.assert_close(path[2], (a + b) / 2)
    batch_a, batch_b = torch.randn(3, 8), torch.randn(3, 8)
    out = lerp(batch_a, batch_b, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(out[0], batch_a[0])
    torch.testing.assert_close(out[1], (batch_a[1] + batch_b[1]) / 2)
    torch.testing.assert_close(out[2], batch_b[2])


def test_slerp_hits_endpoints_and_keeps_norm_for_equal_norm_endpoints():
    torch.manual_seed(1)
    a = torch.randn(16, 128, dtype=torch.float64)
    b = torch.randn(16, 128, dtype=torch.float64)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    torch.testing.assert_close(slerp(a, b, 0.0), a, rtol=0, atol=1e-12)
    torch.testing.assert_close(slerp(a, b, 1.0), b, rtol=0, atol=1e-12)
    for t in np.linspace(0, 1, 11):
        torch.testing.assert_close(slerp(a, b, float(t)).norm(dim=1), a.norm(dim=1), rtol=1e-12, atol=0)
    # A straight line would shrink the norm in between.
    assert (lerp(a, b, 0.5).norm(dim=1) < 0.9 * a.norm(dim=1)).all()
    # Per-sample t and a path between two single vectors.
    per_sample = slerp(a, b, torch.rand(16, dtype=torch.float64))
    torch.testing.assert_close(per_sample.norm(dim=1), a.norm(dim=1), rtol=1e-12, atol=0)
    assert slerp(a[0], b[0], torch.linspace(0, 1, 7)).shape == (7, 128)


def test_slerp_follows_the_great_circle():
    e1, e2 = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    torch.testing.assert_close(slerp(e1, e2, 0.5), torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))
    torch.testing.assert_close(slerp(e1, e2, 1 / 3), torch.tensor([math.cos(math.pi / 6), 0.5, 0.0]))


def test_slerp_near_parallel_and_opposite_endpoints_stay_finite():
    a = torch.randn(4, 64, requires_grad=True)
    b = (a.detach() * 2).requires_grad_()  # same direction, different length
    out = slerp(a, b, 0.25)
    torch.testing.assert_close(out, lerp(a, b, 0.25))
    out.sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    nearly = a.detach() + 1e-7 * torch.randn(4, 64)
    torch.testing.assert_close(slerp(a.detach(), nearly, 0.5), lerp(a.detach(), nearly, 0.5))
    assert torch.isfinite(slerp(a.detach(), -a.detach(), 0.3)).all()


def test_latent_batches_cut_every_part_alike_and_render_in_order():

    latent = Latent(torch.arange(10.0)[:, None], torch.arange(10), {"c": torch.arange(10) * 2})
    parts = list(latent.batches(4))
    assert [len(p) for p in parts] == [4, 4, 2]
    assert parts[2].labels.tolist() == [8, 9] and parts[2].codes["c"].tolist() == [16, 18]
    out = torch.cat(list(render_batches(lambda chunk: chunk.z * 3, latent, 3)))
    assert torch.equal(out, latent.z * 3)
    assert Latent(torch.zeros(3, 1)).slice(1, 3).labels is None
