import pytest
import torch

from ganforge.errors import ConfigError
from ganforge.models import DISCRIMINATORS, GENERATORS
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator


@pytest.mark.parametrize("size", [16, 32, 64])
def test_dcgan_shapes(size):
    G = DCGANGenerator((3, size, size), z_dim=20, width=8)
    D = DCGANDiscriminator((3, size, size), width=8)
    x = G(torch.randn(5, 20))
    assert x.shape == (5, 3, size, size) and x.abs().max() <= 1
    assert D(x).shape == (5,)


def test_dcgan64_is_the_paper_layer_table():
    G = DCGANGenerator((3, 64, 64), z_dim=100, width=64)
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (100, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
    assert all(c.kernel_size == (4, 4) for c in convs)
    D = DCGANDiscriminator((3, 64, 64), width=64)
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride) for c in convs] == [
        (3, 64, (2, 2)), (64, 128, (2, 2)), (128, 256, (2, 2)), (256, 512, (2, 2))]
    # BatchNorm everywhere but D's input layer and G's output layer; no pooling anywhere.
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == 3
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules()) == 4
    assert not any("Pool" in type(m).__name__ for m in [*G.modules(), *D.modules()])
    assert isinstance(G.net[-1], torch.nn.Tanh)


def test_dcgan_init_is_normal_002():
    torch.manual_seed(0)
    G = DCGANGenerator((3, 64, 64), z_dim=100, width=64)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 5e-4


def test_dcgan_dense_layers_are_the_infogan_authors_fc():
    """generator.dense / discriminator.dense: fully connected layers (batch norm) between z and the
    first feature map, and after the last convolution; without them the layers are as before."""
    torch.manual_seed(0)
    G = DCGANGenerator((1, 32, 32), z_dim=74, width=8, dense=64)
    fc = [m for m in G.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in fc] == [(74, 64), (64, 32 * 16)]
    assert isinstance(G.net[1], torch.nn.BatchNorm1d)
    z = torch.randn(6, 74)
    assert G(z).shape == (6, 1, 32, 32)
    with torch.no_grad():
        fc[0].weight.zero_()  # z reaches the image only through the first dense layer
    out = G.eval()(z)
    assert torch.allclose(out, out[:1].expand_as(out))
    D = DCGANDiscriminator((1, 32, 32), width=8, dense=48)
    x = torch.randn(6, 1, 32, 32)
    assert D.feature_dim == 48 and D.features(x).shape == (6, 48) and D(x).shape == (6,)
    assert (D.dense[0].in_features, D.out.in_features) == (32 * 16, 48)
    # off (the default): G starts with the transposed convolution from 1x1, D has no dense layer
    plain_g, plain_d = DCGANGenerator((1, 32, 32), z_dim=74, width=8), DCGANDiscriminator((1, 32, 32), width=8)
    assert plain_g.state_dict()["net.0.weight"].shape == (74, 32, 4, 4)
    assert plain_d.dense is None and not any(k.startswith("dense") for k in plain_d.state_dict())


def test_mlp_handles_points_and_images():
    G = GENERATORS["mlp"]((2,), z_dim=2, width=16)
    D = DISCRIMINATORS["mlp"]((2,), width=16)
    pts = G(torch.randn(4, 2))
    assert pts.shape == (4, 2) and D(pts).shape == (4,)
    G = GENERATORS["mlp"]((1, 28, 28), z_dim=8, width=16)
    assert G(torch.randn(3, 8)).shape == (3, 1, 28, 28)


def test_conditioning_changes_outputs():
    torch.manual_seed(0)
    G = DCGANGenerator((1, 16, 16), num_classes=10, z_dim=8, width=8, conditioning="multiply").eval()
    z = torch.randn(1, 8).expand(2, 8)
    out = G(z, torch.tensor([1, 2]))
    assert not torch.allclose(out[0], out[1])
    for cond in ("concat", "projection"):
        D = DCGANDiscriminator((1, 16, 16), num_classes=10, width=8, conditioning=cond).eval()
        x = torch.randn(1, 1, 16, 16).expand(2, 1, 16, 16)
        d = D(x, torch.tensor([1, 2]))
        assert d[0] != d[1]


def test_bad_sizes_and_conditioning_are_config_errors():
    with pytest.raises(ConfigError, match="power-of-two"):
        DCGANGenerator((1, 28, 28))
    with pytest.raises(ConfigError, match="labelled data"):
        DCGANGenerator((1, 16, 16), num_classes=0, conditioning="multiply")
    with pytest.raises(ConfigError, match="conditioning must be one of"):
        DCGANDiscriminator((1, 16, 16), num_classes=10, conditioning="magic")
