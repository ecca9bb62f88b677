import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.nn import ConditionalBatchNorm2d, MinibatchStddev, PixelNorm


@pytest.mark.parametrize("shape", [(4, 16, 5, 7), (32, 64)])
def test_pixel_norm_gives_unit_mean_square_per_pixel(shape):
    torch.manual_seed(0)
    x = torch.randn(shape) * 7.0 + 3.0
    out = PixelNorm()(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out.square().mean(dim=1), torch.ones(out.shape[:1] + out.shape[2:]), rtol=0, atol=1e-5)
    # Only a per-pixel rescaling: the direction of each feature vector is unchanged.
    torch.testing.assert_close(F.normalize(out, dim=1), F.normalize(x, dim=1))


def _group_std_by_hand(x: np.ndarray, group_size: int) -> np.ndarray:
    """Per-sample statistic: sample n belongs to group n % M (reference reshape [G, M, ...])."""
    n = x.shape[0]
    groups = n // group_size
    result = np.empty(n)
    for m in range(groups):
        members = [i for i in range(n) if i % groups == m]
        assert len(members) == group_size
        block = x[members].astype(np.float64)
        std = np.sqrt(((block - block.mean(axis=0)) ** 2).mean(axis=0) + 1e-8)
        result[members] = std.mean()
    return result


@pytest.mark.parametrize(("batch", "group_size", "used_group"), [(8, 4, 4), (2, 4, 2), (6, 4, 3), (7, 4, 1)])
def test_minibatch_stddev_appends_one_channel_of_group_std(batch, group_size, used_group):
    torch.manual_seed(0)
    # Different scales per sample so that groups get clearly different statistics.
    x = torch.randn(batch, 3, 4, 5) * torch.arange(1, batch + 1).float().reshape(-1, 1, 1, 1)
    out = MinibatchStddev(group_size)(x)
    assert out.shape == (batch, 4, 4, 5)
    assert torch.equal(out[:, :3], x)
    expected = _group_std_by_hand(x.numpy(), used_group)
    stat = out[:, 3].double()
    # Constant over each feature map.
    assert torch.equal(stat, stat[:, :1, :1].expand_as(stat))
    np.testing.assert_allclose(stat[:, 0, 0].numpy(), expected, rtol=1e-5)
    if used_group > 1:
        assert len(set(np.round(expected, 6))) == batch // used_group


def test_minibatch_stddev_passes_gradient_to_every_sample():
    x = torch.randn(8, 2, 3, 3, requires_grad=True)
    MinibatchStddev()(x)[:, 2].sum().backward()
    assert (x.grad.abs().sum(dim=(1, 2, 3)) > 0).all()


def test_conditional_batchnorm_is_plain_batchnorm_at_zero_projection():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(6, cond_dim=10)
    with torch.no_grad():
        cbn.gain.weight.zero_()
        cbn.bias.weight.zero_()
    x = torch.randn(8, 6, 5, 5) * 3 + 1
    out = cbn(x, torch.randn(8, 10))
    plain = F.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(out, plain, rtol=0, atol=1e-6)


def test_conditional_batchnorm_applies_gain_and_bias_from_condition():
    torch.manual_seed(1)
    cbn = ConditionalBatchNorm2d(6, cond_dim=10)
    x = torch.randn(8, 6, 5, 5)
    cond = torch.randn(8, 10)
    out = cbn(x, cond)
    normalised = F.batch_norm(x, None, None, training=True, eps=1e-5)
    gain = 1 + cond @ cbn.gain.weight.T
    bias = cond @ cbn.bias.weight.T
    torch.testing.assert_close(out, normalised * gain[:, :, None, None] + bias[:, :, None, None])

    other = cbn(x, torch.randn(8, 10))
    assert (out - other).abs().amax(dim=(1, 2, 3)).min() > 1e-3  # every sample changed


def test_conditional_batchnorm_tracks_running_stats_and_uses_them_in_eval():
    torch.manual_seed(2)
    cbn = ConditionalBatchNorm2d(3, cond_dim=4)
    x = torch.randn(16, 3, 4, 4) * 2 + 5
    cbn(x, torch.randn(16, 4))
    torch.testing.assert_close(cbn.bn.running_mean, 0.1 * x.mean(dim=(0, 2, 3)))
    cbn.eval()
    single = cbn(x[:1], torch.zeros(1, 4))  # batch of one works in eval, zero cond gives no shift
    expected = (x[:1] - cbn.bn.running_mean[None, :, None, None]) / torch.sqrt(
        cbn.bn.running_var[None, :, None, None] + 1e-5
    )
    torch.testing.assert_close(single, expected)


def test_conditional_batchnorm_spectral_norm_flag_normalises_projections():
    from torch.nn.utils import parametrize

    from ganforge.nn import largest_singular_value

    cbn = ConditionalBatchNorm2d(8, cond_dim=12, spectral_norm=True)
    assert parametrize.is_parametrized(cbn.gain, "weight")
    assert parametrize.is_parametrized(cbn.bias, "weight")
    for _ in range(30):
        cbn(torch.randn(4, 8, 2, 2), torch.randn(4, 12))
    assert largest_singular_value(cbn.gain) == pytest.approx(1.0, abs=1e-3)
    assert not parametrize.is_parametrized(ConditionalBatchNorm2d(8, 12).gain)
