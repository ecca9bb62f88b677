"""PGGAN networks: shapes per stage, the paper's layer table, fade-in, growth state.

The equalized layers' effective weight std, PixelNorm's unit mean square and minibatch stddev's
statistic are tested in tests/nn (test_equalized.py, test_norms.py); here we check that the
networks use them where the paper puts them.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import ConfigError
from ganforge.models import DISCRIMINATORS, GENERATORS
from ganforge.models.pggan import PGGANDiscriminator, PGGANGenerator, stage_channels
from ganforge.nn import EqualizedConv2d, EqualizedLinear, ExponentialMovingAverage, MinibatchStddev, PixelNorm


def _pair(size=32, channels=1, **kw):
    torch.manual_seed(0)
    G = PGGANGenerator((channels, size, size), z_dim=16, channel_base=64, channel_max=32, **kw)
    D = PGGANDiscriminator((channels, size, size), channel_base=64, channel_max=32)
    return G, D


def _grow(stage, alpha, *nets):
    for net in nets:
        net.set_growth(stage, alpha)


def test_registered_by_name():
    assert GENERATORS["pggan"] is PGGANGenerator and DISCRIMINATORS["pggan"] is PGGANDiscriminator


@pytest.mark.parametrize("size, channels", [(32, 1), (16, 3)])
def test_shapes_at_every_stage_in_and_outside_transitions(size, channels):
    G, D = _pair(size, channels)
    stages = int(math.log2(size)) - 1
    assert G.num_stages == D.num_stages == stages
    # Unless a family grows them, the networks work at full size.
    assert G(torch.randn(2, 16)).shape == (2, channels, size, size)
    for stage in range(stages):
        for alpha in ([1.0] if stage == 0 else [0.0, 0.4, 1.0]):
            _grow(stage, alpha, G, D)
            res = 4 * 2 ** stage
            x = G(torch.randn(5, 16))
            assert x.shape == (5, channels, res, res) and G.resolution == res
            assert D.features(x).shape == (5, 32)
            assert D(x).shape == (5,)


def test_discriminator_rejects_images_of_another_resolution():
    G, D = _pair(32)
    _grow(1, 0.5, G, D)
    with pytest.raises(ValueError, match="discriminator is at 8x8 .*got images of 16x16"):
        D(torch.randn(2, 1, 16, 16))


def test_paper_channel_table():
    # Karras et al. 2018, Table 2: 512 maps up to 32x32, then halving to 16 at 1024x1024.
    assert [stage_channels(s, 4096, 512) for s in range(9)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    G, D = _pair(32)  # channel_base 64, channel_max 32: 32, 32, 16, 8
    g_convs = [(m.in_channels, m.out_channels, m.kernel_size) for m in G.blocks.modules()
               if isinstance(m, EqualizedConv2d)]
    assert g_convs == [(32, 32, 3), (32, 32, 3), (32, 32, 3), (32, 16, 3), (16, 16, 3), (16, 8, 3), (8, 8, 3)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in G.to_rgb] == [
        (32, 1, 1), (32, 1, 1), (16, 1, 1), (8, 1, 1)]
    assert [(f.conv.in_channels, f.conv.out_channels, f.conv.kernel_size) for f in D.from_rgb] == [
        (1, 32, 1), (1, 32, 1), (1, 16, 1), (1, 8, 1)]
    d_convs = [(b.conv1.in_channels, b.conv1.out_channels, b.conv2.out_channels) for b in D.blocks[1:]]
    assert d_convs == [(32, 32, 32), (16, 16, 32), (8, 8, 16)]
    final = D.blocks[0]
    assert isinstance(final.stddev, MinibatchStddev) and final.stddev.group_size == 4
    assert final.conv.in_channels == 33 and final.dense.in_features == 32 * 16
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Tanh)) for m in [*G.modules(), *D.modules()])


def test_every_layer_has_an_equalized_learning_rate_with_the_paper_gains():
    G, D = _pair(32)
    plain = [m for m in [*G.modules(), *D.modules()] if type(m) in (nn.Conv2d, nn.Linear)]
    assert plain == []

    def gain(layer):
        fan_in = layer.weight[0].numel()
        return layer.scale * math.sqrt(fan_in)

    to_rgb = {id(c) for c in G.to_rgb}
    first_dense = G.blocks[0].dense
    for m in G.modules():
        if isinstance(m, (EqualizedConv2d, EqualizedLinear)):
            expected = 1.0 if id(m) in to_rgb else math.sqrt(2) / 4 if m is first_dense else math.sqrt(2)
            assert gain(m) == pytest.approx(expected, rel=1e-12)
    for m in D.modules():
        if isinstance(m, (EqualizedConv2d, EqualizedLinear)):
            assert gain(m) == pytest.approx(1.0 if m is D.out else math.sqrt(2), rel=1e-12)
    assert isinstance(D.out, EqualizedLinear) and D.out.out_features == 1


def test_generator_normalises_latent_and_every_feature_vector():
    G, _ = _pair(32)
    _grow(3, 1.0, G)
    z = torch.randn(4, 16)
    # PixelNorm on z: the output does not depend on the latent's length.
    assert torch.allclose(G(z), G(z * 7.5), atol=1e-5)
    assert sum(isinstance(m, PixelNorm) for m in G.modules()) == 1 + 4  # latent + one per block
    outputs, norm_calls = [], []
    hooks = [b.register_forward_hook(lambda m, i, o: outputs.append(o)) for b in G.blocks]
    hooks += [m.register_forward_hook(lambda m, i, o: norm_calls.append(1))
              for m in G.modules() if isinstance(m, PixelNorm)]
    G(z)
    for h in hooks:
        h.remove()
    assert len(outputs) == 4 and len(norm_calls) == 1 + 2 * 4  # z, then after each conv / dense
    for o in outputs:
        assert torch.allclose(o.square().mean(1), torch.ones(()), atol=1e-5)


def test_generator_fade_in_is_the_lerp_of_upsampled_old_and_new_output():
    G, _ = _pair(32)
    z = torch.randn(3, 16)
    for stage in (1, 2, 3):
        _grow(stage - 1, 1.0, G)
        old = F.interpolate(G(z), scale_factor=2, mode="nearest")
        _grow(stage, 1.0, G)
        new = G(z)
        _grow(stage, 0.0, G)
        assert torch.allclose(G(z), old, atol=1e-6)
        _grow(stage, 0.3, G)
        assert torch.allclose(G(z), 0.7 * old + 0.3 * new, atol=1e-6)
        assert not torch.allclose(old, new, atol=1e-2)  # the two branches differ: a real check


def test_discriminator_fade_in_blends_from_rgb_of_pooled_input_with_the_new_block():
    _, D = _pair(32)
    x = torch.randn(4, 1, 16, 16)
    # alpha = 0: exactly the previous stage's D on the average-pooled image.
    _grow(1, 1.0, D)
    previous = D(F.avg_pool2d(x, 2))
    _grow(2, 0.0, D)
    assert torch.allclose(D(x), previous, atol=1e-6)
    # 0 < alpha < 1: the features entering block 1 are the lerp of both paths.
    alpha = 0.35
    _grow(2, alpha, D)
    old = D.from_rgb[1](F.avg_pool2d(x, 2))
    new = D.blocks[2](D.from_rgb[2](x))
    h = D.blocks[0](D.blocks[1]((1 - alpha) * old + alpha * new))
    assert torch.allclose(D(x), D.out(h).squeeze(1), atol=1e-6)
    assert not torch.allclose(old, new, atol=1e-2)


def test_minibatch_stddev_makes_each_score_depend_on_its_group():
    _, D = _pair(16)
    _grow(2, 1.0, D)
    x = torch.randn(8, 1, 16, 16)
    y = x.clone()
    y[4] += 1.0  # groups of 4 follow the reference reshape: sample 0 shares a group with 2, 4, 6
    a, b = D(x), D(y)
    assert a[0] != b[0] and a[2] != b[2]
    assert torch.equal(a[1], b[1]) and torch.equal(a[3], b[3])
    two = PGGANDiscriminator((1, 16, 16), channel_base=16, channel_max=8, mbstd_group=2)
    assert two.blocks[0].stddev.group_size == 2


def test_growth_state_travels_with_state_dict_ema_and_device_moves():
    G, _ = _pair(32)
    ema = ExponentialMovingAverage(G)
    _grow(2, 0.25, G)
    fresh, _ = _pair(32)
    assert fresh.current_stage == 3 and fresh.current_alpha == 1.0
    fresh.load_state_dict(G.state_dict())
    assert (fresh.current_stage, fresh.current_alpha) == (2, 0.25)
    ema.update(G, 0.999)
    assert (ema.module.current_stage, ema.module.current_alpha) == (2, 0.25)
    G.half()  # moves and casts leave the growth state alone (on the host, alpha in float64)
    assert (G.stage.device.type, G.stage.dtype, G.alpha.dtype) == ("cpu", torch.int64, torch.float64)
    G.to(torch.float64)
    assert G(torch.randn(2, 16, dtype=torch.float64)).shape == (2, 1, 16, 16)


def test_invalid_growth_and_configuration_are_errors():
    G, D = _pair(32)
    with pytest.raises(ValueError, match="stage must be in 0..3"):
        G.set_growth(4, 1.0)
    with pytest.raises(ValueError, match="alpha must be in"):
        G.set_growth(0, 0.5)
    with pytest.raises(ValueError, match="alpha must be in"):
        D.set_growth(2, 1.5)
    with pytest.raises(ConfigError, match="square power-of-two"):
        PGGANGenerator((1, 28, 28))
    with pytest.raises(ConfigError, match="none or projection"):
        PGGANDiscriminator((1, 16, 16), num_classes=10, conditioning="concat")


def test_conditional_variants_use_the_labels():
    torch.manual_seed(0)
    G = PGGANGenerator((1, 16, 16), num_classes=10, z_dim=8, channel_base=16, channel_max=16,
                       conditioning="multiply")
    D = PGGANDiscriminator((1, 16, 16), num_classes=10, channel_base=16, channel_max=16,
                           conditioning="projection")
    _grow(1, 0.5, G, D)
    z = torch.randn(1, 8).expand(2, 8)
    x = G(z, torch.tensor([1, 2]))
    assert x.shape == (2, 1, 8, 8) and not torch.allclose(x[0], x[1])
    same = x[:1].expand(2, 1, 8, 8)
    d = D(same, torch.tensor([1, 2]))
    assert d[0] != d[1]


@pytest.mark.parametrize("alpha", [0.5, 1.0])
def test_networks_agree_under_bf16_autocast_and_channels_last(alpha):
    """What train.precision=auto runs on a CPU with AMX (the pggan-mnist recipe's setting): bf16
    autocast, models and images channels-last, at the last stage mid-fade-in and stable. G's
    images, D's scores and D's input gradient (what the gradient penalty and G learn from) agree
    with fp32 in the default layout to bf16 rounding."""
    G, D = _pair()
    _grow(3, alpha, G, D)
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
    x = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1).requires_grad_()
    reference_images, reference_scores = G(z), D(x)
    (reference_grad,) = torch.autograd.grad(reference_scores.sum(), x)
    for net in (G, D):
        net.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        images = G(z)
        scores = D(x.contiguous(memory_format=torch.channels_last))
    (grad,) = torch.autograd.grad(scores.float().sum(), x)
    # bf16 keeps 8 bits of mantissa: the images' rms error is 1.5-1.8% of their spread here.
    error = (images.float() - reference_images).pow(2).mean().sqrt()
    assert error < 0.05 * reference_images.std()
    torch.testing.assert_close(scores.float(), reference_scores, rtol=0.1, atol=0.1 * reference_scores.abs().mean().item())
    assert F.cosine_similarity(grad.flatten(), reference_grad.flatten(), dim=0) > 0.97
