"""BigGAN generator and discriminator: layer tables, skip-z, class-conditional BatchNorm,
self-attention, spectral norm."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ganforge.errors import ConfigError
from ganforge.models import DISCRIMINATORS, GENERATORS
from ganforge.models.biggan import BigGANDiscriminator, BigGANGenerator
from ganforge.nn import ConditionalBatchNorm2d, SelfAttention, largest_singular_value


def _g(size=16, **kw):
    args = dict(num_classes=10, z_dim=12, width=8, attention_resolution=0)
    args.update(kw)
    torch.manual_seed(0)
    return BigGANGenerator((1, size, size), **args)


def _d(size=16, **kw):
    args = dict(num_classes=10, width=8, attention_resolution=0)
    args.update(kw)
    torch.manual_seed(0)
    return BigGANDiscriminator((1, size, size), **args)


def test_registered_by_name():
    assert GENERATORS["biggan"] is BigGANGenerator and DISCRIMINATORS["biggan"] is BigGANDiscriminator


@pytest.mark.parametrize("size, attention", [(32, 16), (64, 32), (128, 64)])
def test_shapes_at_32_64_128(size, attention):
    torch.manual_seed(0)
    G = BigGANGenerator((3, size, size), num_classes=5, z_dim=24, width=4, attention_resolution=attention)
    D = BigGANDiscriminator((3, size, size), num_classes=5, width=8, attention_resolution=attention)
    labels = torch.tensor([0, 1, 4])
    x = G(torch.randn(3, 24), labels)
    assert x.shape == (3, 3, size, size) and x.abs().max() <= 1
    assert D(x, labels).shape == (3,) and D.features(x, labels).shape == (3, D.feature_dim)


def _conv_channels(module):
    return [(m.in_channels, m.out_channels) for m in module.modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]


def test_128_layer_table_is_the_papers():
    # Channels scale with the width "ch" (96 in the paper); width 8 keeps the test small.
    ch = 8
    G = BigGANGenerator((3, 128, 128), num_classes=10, z_dim=120, width=ch, attention_resolution=64)
    mult = [16, 16, 8, 4, 2, 1]
    assert G.linear.in_features == 20 and G.linear.out_features == 4 * 4 * 16 * ch
    assert G.chunk_sizes == [20] * 6  # z 120 split over the input and five blocks
    blocks = [(b.conv1.in_channels, b.conv2.out_channels) for b in G.blocks]
    assert blocks == [(ch * a, ch * b) for a, b in zip(mult, mult[1:])]
    assert G.to_image.in_channels == ch and G.to_image.out_channels == 3
    assert G.attention.channels == 2 * ch and G.attention_after == 3  # after the 64x64 block
    D = BigGANDiscriminator((3, 128, 128), num_classes=10, width=ch, attention_resolution=64)
    d_mult = [1, 2, 4, 8, 16, 16]
    assert [(b.conv1.in_channels, b.conv2.out_channels) for b in D.blocks] == [
        (3, ch)] + [(ch * a, ch * b) for a, b in zip(d_mult, d_mult[1:])]
    assert [b.downsample for b in D.blocks] == [True] * 5 + [False]
    assert [b.preactivation for b in D.blocks] == [False] + [True] * 5
    assert D.attention.channels == ch and D.attention_after == 0  # after the 64x64 block
    assert D.feature_dim == 16 * ch and D.projection.embedding_dim == 16 * ch


def test_32_layer_table_is_the_authors_cifar_one():
    G = BigGANGenerator((3, 32, 32), num_classes=10, z_dim=128, width=64, attention_resolution=0)
    assert [(b.conv1.in_channels, b.conv2.out_channels) for b in G.blocks] == [(256, 256)] * 3
    assert G.chunk_sizes == [32] * 4
    D = BigGANDiscriminator((3, 32, 32), num_classes=10, width=64, final_resolution=8,
                            multipliers=(4, 4, 4, 4), attention_resolution=0)
    assert [b.conv2.out_channels for b in D.blocks] == [256] * 4
    assert [b.downsample for b in D.blocks] == [True, True, False, False]
    assert D.blocks[2].shortcut is None and D.blocks[3].shortcut is None  # identity skips


def test_generator_block_structure():
    G = _g()
    block = G.blocks[0]
    assert isinstance(block.bn1, ConditionalBatchNorm2d) and isinstance(block.bn2, ConditionalBatchNorm2d)
    assert block.shortcut.kernel_size == (1, 1)
    # The block is cBN-ReLU-up-conv-cBN-ReLU-conv plus the 1x1 shortcut of the upsampled input.
    block.eval()
    x, cond = torch.randn(2, block.conv1.in_channels, 4, 4), torch.randn(2, block.bn1.gain.in_features)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    h = block.conv2(F.relu(block.bn2(block.conv1(up(F.relu(block.bn1(x, cond)))), cond)))
    torch.testing.assert_close(block(x, cond), h + block.shortcut(up(x)), rtol=1e-5, atol=1e-6)


def _record(G, names):
    out = {}
    hooks = [getattr_path(G, n).register_forward_hook(
        lambda m, i, o, n=n: out.__setitem__(n, o.detach().clone())) for n in names]
    return out, hooks


def getattr_path(module, path):
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def test_conditional_batchnorm_output_depends_on_class():
    G = _g().eval()
    seen, hooks = _record(G, ["blocks.0.bn1", "blocks.1.bn2"])
    z = torch.randn(1, 12).expand(3, 12)
    G(z, torch.tensor([3, 3, 7]))
    for h in hooks:
        h.remove()
    for name, out in seen.items():
        torch.testing.assert_close(out[0], out[1], rtol=0, atol=0)
        assert (out[0] - out[2]).abs().max() > 1e-3, name


def test_shared_embedding_is_one_table_and_the_ablation_gives_one_per_block():
    shared = _g()
    labels = torch.tensor([1, 2])
    conds = shared.block_conditions(torch.randn(2, 12), labels)
    torch.testing.assert_close(conds[0][:, :128], shared.shared(labels))
    torch.testing.assert_close(conds[0][:, :128], conds[1][:, :128], rtol=0, atol=0)
    assert shared.class_embeddings() == [shared.shared] and shared.embeddings is None
    own = _g(shared_embedding=False)
    conds = own.block_conditions(torch.randn(2, 12), labels)
    assert own.shared is None and len(own.class_embeddings()) == len(own.blocks) == 2
    assert (conds[0][:, :128] - conds[1][:, :128]).abs().max() > 1e-3
    torch.testing.assert_close(conds[1][:, :128], own.embeddings[1](labels))


def _outputs(G, z, labels):
    names = ["linear", "blocks.0", "blocks.1", "blocks.2"]
    seen, hooks = _record(G, names)
    G(z, labels)
    for h in hooks:
        h.remove()
    return [seen[n] for n in names]


def test_skip_z_each_chunk_reaches_its_own_block():
    G = _g(size=32, z_dim=16).eval()  # 3 blocks: chunks of 4 for the input and each block
    assert G.chunk_sizes == [4, 4, 4, 4]
    torch.manual_seed(1)
    z, labels = torch.randn(2, 16), torch.tensor([0, 5])
    base = _outputs(G, z, labels)
    for chunk in range(4):
        moved = z.clone()
        moved[:, 4 * chunk:4 * chunk + 4] += 1.0
        outs = _outputs(G, moved, labels)
        # Chunk 0 feeds the linear layer; chunk k >= 1 first enters block k - 1.
        first = chunk  # index into [linear, block0, block1, block2]
        for i, (a, b) in enumerate(zip(base, outs)):
            if i < first:
                torch.testing.assert_close(a, b, rtol=0, atol=0)
            else:
                assert (a - b).abs().max() > 1e-4, (chunk, i)


def test_skip_z_gradient_of_each_blocks_batchnorm_input():
    G = _g(size=32, z_dim=16).eval()
    z = torch.randn(2, 16, requires_grad=True)
    seen = {}
    for i, block in enumerate(G.blocks):  # the cBN's condition vector, as it is used
        block.bn1.register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, inp[1]))
    G(z, torch.tensor([1, 2]))
    for i in range(3):
        (grad,) = torch.autograd.grad(seen[i].sum(), z, retain_graph=True)
        per_chunk = grad.abs().view(2, 4, 4).sum(dim=(0, 2))
        assert per_chunk[i + 1] > 0 and all(per_chunk[j] == 0 for j in range(4) if j != i + 1), (i, per_chunk)


def test_without_hierarchy_all_of_z_goes_to_the_linear_layer():
    G = _g(size=32, z_dim=16, hierarchical=False).eval()
    assert G.chunk_sizes == [16] and G.linear.in_features == 16
    # Each cBN sees only the class embedding.
    assert G.blocks[0].bn1.gain.in_features == 128
    assert all(c.shape == (2, 128) for c in G.block_conditions(torch.randn(2, 16), torch.tensor([1, 2])))
    z = torch.randn(2, 16)
    base = _outputs(G, z, torch.tensor([1, 2]))
    moved = z.clone()
    moved[:, -1] += 1.0  # the last entry would be the last block's chunk with skip-z
    assert (_outputs(G, moved, torch.tensor([1, 2]))[0] - base[0]).abs().max() > 1e-4


def test_unconditional_generator_uses_plain_batchnorm_without_hierarchy():
    G = _g(num_classes=0, conditioning="none", hierarchical=False)
    assert not any(isinstance(m, ConditionalBatchNorm2d) for m in G.modules())
    assert G.shared is None and G(torch.randn(3, 12)).shape == (3, 1, 16, 16)
    G = _g(num_classes=0, conditioning="none")  # hierarchical: cBN on the z chunks alone
    assert G.blocks[0].bn1.gain.in_features == 4


def test_attention_starts_as_identity_inside_the_models():
    G = _g(size=32, attention_resolution=16)
    D = _d(size=32, attention_resolution=16)
    for model, res, channels in ((G, 16, 32), (D, 16, 32)):
        att = model.attention
        assert isinstance(att, SelfAttention) and att.gamma.item() == 0 and att.channels == channels
        seen = {}
        att.register_forward_hook(lambda m, i, o: seen.update(inp=i[0], out=o))
        if model is G:
            model(torch.randn(2, 12), torch.tensor([0, 1]))
        else:
            model(torch.randn(2, 1, 32, 32), torch.tensor([0, 1]))
        assert seen["inp"].shape[-1] == res
        torch.testing.assert_close(seen["out"], seen["inp"], rtol=0, atol=0)
        with torch.no_grad():
            att.gamma.fill_(1.0)
        if model is G:
            model(torch.randn(2, 12), torch.tensor([0, 1]))
        else:
            model(torch.randn(2, 1, 32, 32), torch.tensor([0, 1]))
        assert (seen["out"] - seen["inp"]).abs().max() > 1e-4
    assert _g(size=32).attention is None and _d(size=32).attention is None


def _weight_layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_spectral_norm_on_every_layer_and_switchable():
    G, D = _g(size=32, attention_resolution=16), _d(size=32, attention_resolution=16)
    for model in (G, D):
        layers = _weight_layers(model)
        assert len(layers) > 10 and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert parametrize.is_parametrized(D.projection, "weight")
    assert not parametrize.is_parametrized(G.shared, "weight")  # a lookup table, as in the authors' code
    for model in (_g(size=32, spectral_norm=False), _d(size=32, spectral_norm=False)):
        assert not any(parametrize.is_parametrized(m) for m in model.modules())


def test_spectral_norm_keeps_largest_singular_value_near_one_while_training():
    G, D = _g(size=16), _d(size=16)
    layers = _weight_layers(G) + _weight_layers(D)
    torch.manual_seed(0)
    with torch.no_grad():  # raw weights with spread-out spectra, far from the orthogonal start
        for layer in layers:
            layer.parametrizations.weight.original.normal_(0, 0.3)
    opt = torch.optim.Adam([*G.parameters(), *D.parameters()], lr=1e-3, betas=(0.0, 0.999))
    for step in range(50):  # one power-iteration step per training-mode forward
        labels = torch.randint(0, 10, (2,))
        with torch.set_grad_enabled(step < 20):  # 20 optimiser steps, then forwards only
            loss = (F.relu(1 + D(G(torch.randn(2, 12), labels), labels)).mean()
                    + F.relu(1 - D(torch.randn(2, 1, 16, 16), labels)).mean())
        if step < 20:
            opt.zero_grad()
            loss.backward()
            opt.step()
    for layer in layers:
        sigma = largest_singular_value(layer)
        raw = torch.linalg.matrix_norm(layer.parametrizations.weight.original.detach().flatten(1).double(), ord=2)
        assert 0.9999 < sigma < 1.01 and raw > 1.5, (layer, sigma, raw.item())


def test_orthogonal_initialisation():
    G = _g(size=16, spectral_norm=False)
    w = G.blocks[0].conv1.weight.detach().flatten(1)  # [out, in*9], out < in*9: orthonormal rows
    torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), rtol=0, atol=1e-5)
    e = G.shared.weight.detach()  # [10, 128]
    torch.testing.assert_close(e @ e.T, torch.eye(10), rtol=0, atol=1e-5)


@pytest.mark.parametrize("make, fragment", [
    (lambda: _g(size=32, attention_resolution=4), "attention_resolution 4 is not a block resolution"),
    (lambda: _d(size=32, attention_resolution=64), "not a block resolution"),
    (lambda: _g(size=32, multipliers=(4, 4)), "needs 4 entries"),
    (lambda: _d(size=32, multipliers=(1,)), "needs at least 3 entries"),
    (lambda: _g(size=32, z_dim=3), "z_dim >= 4"),
    (lambda: _g(size=24), "power-of-two"),
    (lambda: _g(num_classes=0), "labelled data"),
    (lambda: _g(conditioning="multiply"), "conditioning must be one of"),
    (lambda: _g(size=32, width=3, attention_resolution=16), "divisible by 8"),
    (lambda: _d(size=32, final_resolution=3), "final_resolution"),
])
def test_bad_settings_are_config_errors(make, fragment):
    with pytest.raises(ConfigError, match=fragment):
        make()


def test_uneven_z_gives_the_remainder_to_the_input_chunk():
    assert _g(size=32, z_dim=18).chunk_sizes == [6, 4, 4, 4]
