"""BigGAN-deep: bottleneck blocks, channel-dropping (G) and channel-adding (D) skips, z with the
shared embedding in every block, the layer table at 128x128, and the recipes end to end."""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.models import DISCRIMINATORS, GENERATORS
from ganforge.models.biggan_deep import (BigGANDeepDiscriminator, BigGANDeepGenerator, BottleneckDBlock,
                                         BottleneckGBlock)
from ganforge.nn import ConditionalBatchNorm2d
from ganforge.training import checkpoint as ckpt

torch.set_num_threads(1)


def _g(size=32, **kw):
    args = dict(num_classes=10, z_dim=8, width=4, multipliers=(4, 4, 2, 1)[:int(math.log2(size)) - 1],
                shared_dim=8, attention_resolution=0)
    args.update(kw)
    torch.manual_seed(0)
    return BigGANDeepGenerator((1, size, size), **args)


def _d(size=32, **kw):
    args = dict(num_classes=10, width=4, multipliers=(1, 2, 4, 4), attention_resolution=0)
    args.update(kw)
    torch.manual_seed(0)
    return BigGANDeepDiscriminator((1, size, size), **args)


def test_registered_by_name():
    assert GENERATORS["biggan-deep"] is BigGANDeepGenerator
    assert DISCRIMINATORS["biggan-deep"] is BigGANDeepDiscriminator


def test_shapes_at_32():
    G, D = _g(attention_resolution=16), _d(attention_resolution=16)
    labels = torch.tensor([0, 3, 9])
    x = G(torch.randn(3, 8), labels)
    assert x.shape == (3, 1, 32, 32) and x.abs().max() <= 1
    assert D(x, labels).shape == (3,) and D.features(x, labels).shape == (3, D.feature_dim)
    # Two blocks per resolution; attention after the second block of the 16x16 resolution.
    assert len(G.blocks) == 6 and [b.upsample for b in G.blocks] == [False, True] * 3
    assert G.attention_after == 3 and G.attention.channels == 8
    assert len(D.blocks) == 6 and [b.downsample for b in D.blocks] == [True, False] * 3
    assert D.attention_after == 1 and D.attention.channels == 8


def test_128_layer_table_on_the_meta_device():
    # The full-size model (ch 128, 1000 classes) is only built, never run; without spectral norm,
    # whose power iterations make a meta build slow (it adds buffers, not parameters).
    with torch.device("meta"):
        G = BigGANDeepGenerator((3, 128, 128), num_classes=1000, spectral_norm=False)
        D = BigGANDeepDiscriminator((3, 128, 128), num_classes=1000, spectral_norm=False)
    ch, mult = 128, [16, 16, 8, 4, 2, 1]
    assert G.linear.in_features == 128 + 128 and G.linear.out_features == 16 * 16 * ch
    pairs = [(b.convs[0].in_channels, b.convs[3].out_channels) for b in G.blocks]
    expected = []
    for a, b in zip(mult, mult[1:]):
        expected += [(a * ch, a * ch), (a * ch, b * ch)]
    assert pairs == expected
    assert [b.convs[1].in_channels for b in G.blocks] == [a // 4 for a, _ in expected]
    assert G.attention.channels == 2 * ch and G.attention_after == 7  # after the 64x64 resolution
    d_mult = [1, 2, 4, 8, 16, 16]
    assert D.input_conv.out_channels == ch
    expected = []
    for a, b in zip(d_mult, d_mult[1:]):
        expected += [(a * ch, b * ch), (b * ch, b * ch)]
    assert [(b.convs[0].in_channels, b.convs[3].out_channels) for b in D.blocks] == expected
    assert D.attention.channels == 2 * ch and D.attention_after == 1
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert (count(G), count(D)) == (50_244_484, 34_590_210)


def test_generator_block_skip_keeps_the_first_channels():
    torch.manual_seed(0)
    block = BottleneckGBlock(16, 8, cond_dim=6, upsample=True, bottleneck=4, spectral_norm=False).eval()
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in block.convs] == [
        (16, 4, (1, 1)), (4, 4, (3, 3)), (4, 4, (3, 3)), (4, 8, (1, 1))]
    assert all(isinstance(n, ConditionalBatchNorm2d) for n in block.norms)
    assert not any(isinstance(m, nn.Conv2d) for m in block.modules() if m not in block.convs.modules())
    x, cond = torch.randn(2, 16, 4, 4), torch.randn(2, 6)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    h = x
    for i, (norm, conv) in enumerate(zip(block.norms, block.convs)):
        h = F.relu(norm(h, cond))
        h = conv(up(h) if i == 1 else h)
    torch.testing.assert_close(block(x, cond), h + up(x[:, :8]), rtol=1e-5, atol=1e-6)
    # With the residual branch silenced the block is exactly the dropped, upsampled input.
    with torch.no_grad():
        block.convs[3].weight.zero_()
        block.convs[3].bias.zero_()
    torch.testing.assert_close(block(x, cond), up(x[:, :8]), rtol=0, atol=0)
    with pytest.raises(ConfigError, match="non-increasing"):
        BottleneckGBlock(8, 16, cond_dim=6, upsample=True, bottleneck=4, spectral_norm=False)


def test_discriminator_block_skip_appends_a_1x1_conv():
    torch.manual_seed(0)
    block = BottleneckDBlock(8, 16, downsample=True, bottleneck=4)
    assert block.extra.kernel_size == (1, 1) and (block.extra.in_channels, block.extra.out_channels) == (8, 8)
    assert [c.out_channels for c in block.convs] == [4, 4, 4, 16]
    x = torch.randn(2, 8, 8, 8)
    with torch.no_grad():
        block.convs[3].weight.zero_()
        block.convs[3].bias.zero_()
    out = block(x)
    pooled = F.avg_pool2d(x, 2)
    assert out.shape == (2, 16, 4, 4)
    torch.testing.assert_close(out[:, :8], pooled, rtol=0, atol=0)  # the input, unchanged
    torch.testing.assert_close(out[:, 8:], block.extra(pooled), rtol=1e-5, atol=1e-6)
    same = BottleneckDBlock(16, 16, downsample=False, bottleneck=4)
    assert same.extra is None
    with torch.no_grad():
        same.convs[3].weight.zero_()
        same.convs[3].bias.zero_()
    y = torch.randn(2, 16, 4, 4)
    torch.testing.assert_close(same(y), y, rtol=0, atol=0)  # identity skip
    with pytest.raises(ConfigError, match="non-decreasing"):
        BottleneckDBlock(16, 8, downsample=True, bottleneck=4)


def test_every_block_sees_all_of_z_and_the_shared_embedding():
    G = _g().eval()
    seen = {}
    for i, block in enumerate(G.blocks):
        block.norms[0].register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, inp[1]))
    z, labels = torch.randn(2, 8, requires_grad=True), torch.tensor([1, 2])
    G(z, labels)
    expected = torch.cat([G.shared(labels), z], dim=1)
    assert G.linear.in_features == 16
    for i in range(len(G.blocks)):
        torch.testing.assert_close(seen[i], expected, rtol=0, atol=0)
        (grad,) = torch.autograd.grad(seen[i].sum(), z, retain_graph=True)
        assert (grad != 0).all()  # every entry of z, not one chunk
    assert G.class_embeddings() == [G.shared]


def test_conditioning_changes_the_output():
    G = _g().eval()
    z = torch.randn(1, 8).expand(3, 8)
    x = G(z, torch.tensor([3, 3, 7]))
    torch.testing.assert_close(x[0], x[1], rtol=0, atol=0)
    assert (x[0] - x[2]).abs().max() > 1e-3
    D = _d().eval()
    image = torch.randn(1, 1, 32, 32).expand(2, 1, 32, 32)
    out = D(image, torch.tensor([0, 5]))
    assert (out[0] - out[1]).abs() > 1e-4  # the projection term
    with pytest.raises(ValueError, match="pass labels"):
        G(torch.randn(2, 8))


def test_unconditional_generator_conditions_on_z_alone():
    G = _g(num_classes=0, conditioning="none")
    assert G.shared is None and G.linear.in_features == 8 and G.blocks[0].norms[0].gain.in_features == 8
    assert G(torch.randn(2, 8)).shape == (2, 1, 32, 32)


def test_spectral_norm_on_every_layer():
    G, D = _g(attention_resolution=16), _d(attention_resolution=16)
    for model in (G, D):
        layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert len(layers) > 20 and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert parametrize.is_parametrized(D.projection, "weight")
    assert not parametrize.is_parametrized(G.shared, "weight")
    for model in (_g(spectral_norm=False), _d(spectral_norm=False)):
        assert not any(parametrize.is_parametrized(m) for m in model.modules())


@pytest.mark.parametrize("make, fragment", [
    (lambda: _g(attention_resolution=4), "attention_resolution 4 is not a block resolution"),
    (lambda: _g(multipliers=(1, 2, 2, 2)), "non-increasing"),
    (lambda: _d(multipliers=(4, 2, 2, 2)), "non-decreasing"),
    (lambda: _d(multipliers=(1, 2, 4)), "needs at least 4 entries"),
    (lambda: _g(width=1), "bottleneck of 4 needs at least 4 channels"),
    (lambda: _g(num_classes=0), "labelled data"),
])
def test_bad_settings_are_config_errors(make, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make()


def test_recipes_use_the_deep_models_and_the_biggan_family():
    # tests/reliability/test_hardening.py plans every recipe (the 128x128 one too) on the meta device.
    for recipe, size in (("biggan-deep-mnist", 32), ("biggan-deep-128", 128)):
        cfg = resolve(recipe)
        assert cfg.generator["name"] == cfg.discriminator["name"] == "biggan-deep"
        assert cfg.family["name"] == "biggan" and cfg.data.image_size == size


def test_the_channels_last_layout_computes_what_the_default_layout_computes():
    # biggan-deep-mnist trains channels-last (train.channels_last, for speed): the same outputs
    # and gradients, self-attention's reshapes included, to float rounding.
    assert resolve("biggan-deep-mnist").train.channels_last
    labels = torch.arange(6)
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(1)).double()
    images = torch.randn(6, 1, 32, 32, generator=torch.Generator().manual_seed(2)).double()
    for make, inputs in ((lambda: _g(attention_resolution=16), lambda layout: z),
                         (lambda: _d(attention_resolution=16), lambda layout: images.contiguous(memory_format=layout))):
        results = []
        for layout in (torch.contiguous_format, torch.channels_last):
            net = make().double().to(memory_format=layout)
            out = net(inputs(layout), labels)
            out.square().sum().backward()
            results.append([out] + [p.grad for p in net.parameters() if p.grad is not None])
        assert len(results[0]) == len(results[1]) > 10
        for a, b in zip(*results):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_networks_agree_under_bf16_autocast_and_channels_last():
    """What train.precision=auto runs on a CPU with AMX (the biggan-deep-mnist recipe's setting):
    bf16 autocast, models and images channels-last. G's images (in training mode: batch
    statistics), D's scores and D's input gradient agree with fp32 in the default layout to bf16
    rounding, self-attention and the class projection included."""
    labels = torch.arange(8) % 10
    z = torch.randn(8, 8, generator=torch.Generator().manual_seed(1))
    x = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1).requires_grad_()
    G, D = _g(attention_resolution=16), _d(attention_resolution=16)
    reference_images, reference_scores = G(z, labels), D(x, labels)
    (reference_grad,) = torch.autograd.grad(reference_scores.sum(), x)
    # Fresh networks: the first forward pass moved spectral norm's power-iteration vectors (and
    # BN's running stats), so reused ones would compare slightly different weights.
    G, D = _g(attention_resolution=16), _d(attention_resolution=16)
    for net in (G, D):
        net.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        images = G(z, labels)
        scores = D(x.contiguous(memory_format=torch.channels_last), labels)
    (grad,) = torch.autograd.grad(scores.float().sum(), x)
    # bf16 keeps 8 bits of mantissa: through batch-normed blocks the rms error is ~5% of the
    # images' spread here; G given the wrong classes is off by ~100%.
    error = (images.float() - reference_images).pow(2).mean().sqrt()
    assert error < 0.1 * reference_images.std()
    torch.testing.assert_close(scores.float(), reference_scores, rtol=0.1, atol=0.1 * reference_scores.abs().mean().item())
    assert F.cosine_similarity(grad.flatten(), reference_grad.flatten(), dim=0) > 0.97


TINY = ["data.source=digits", "data.image_size=16", "generator.width=4", "generator.z_dim=8",
        "generator.multipliers=[2,2,1]", "generator.shared_dim=8", "generator.attention_resolution=8",
        "discriminator.width=4", "discriminator.multipliers=[1,2,2]",
        "discriminator.attention_resolution=8", "train.batch_size=8", "train.steps=4",
        "train.progress=false", "train.log_every=2", "train.sample_every=4", "train.ckpt_every=4",
        "train.grid_size=10", "train.threads=1", "train.ema_start_step=2"]


def test_biggan_deep_mnist_trains_saves_and_samples(tmp_path):
    run = api.train(resolve("biggan-deep-mnist", TINY), out=tmp_path / "run")
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    for key in ("d_loss", "g_loss", "g_ortho", "d_real", "d_fake"):
        assert all(math.isfinite(r[key]) for r in log), key
    assert ckpt.checkpoint_dirs(run)
    g = api.load(run)
    assert isinstance(g.G, BigGANDeepGenerator)
    x = g.sample(4, labels=[0, 1, 2, 3], truncation=0.5, seed=1)
    assert x.shape == (4, 1, 16, 16) and torch.isfinite(x).all() and x.abs().max() <= 1
    assert torch.equal(x, g.sample(4, labels=[0, 1, 2, 3], truncation=0.5, seed=1))
