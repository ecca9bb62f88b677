"""The BigGAN family: the G loss carries orthogonal regularization (class embeddings excluded),
standing statistics, and the recipes' paper settings."""
import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganforge.config import load_recipe
from ganforge.errors import ConfigError
from ganforge.families import FAMILIES, Latent
from ganforge.explore.standing import standing_stats_
from ganforge.families.biggan import BigGAN
from ganforge.models.biggan import BigGANDiscriminator, BigGANGenerator
from ganforge.nn import ema_decay_from_half_life
from ganforge.training.build import validated_sections


def _models(**g_kw):
    torch.manual_seed(0)
    G = BigGANGenerator((1, 16, 16), num_classes=10, z_dim=12, width=8, attention_resolution=8, **g_kw)
    D = BigGANDiscriminator((1, 16, 16), num_classes=10, width=8, attention_resolution=0)
    G.noise_dim = 12
    return G, D


def _reference_penalty(G: nn.Module) -> torch.Tensor:
    """sum ||W W^T (.) (1 - I)||_F^2 over G's raw weights with >= 2 dims, embeddings excluded."""
    embeddings = {id(p) for m in G.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    total = torch.zeros((), dtype=torch.float64)
    for p in G.parameters():
        if p.ndim >= 2 and id(p) not in embeddings:
            w = p.detach().double().flatten(1)
            gram = w @ w.T
            total += (gram * (1 - torch.eye(len(w), dtype=torch.float64))).square().sum()
    return total


def _perturb_(G: nn.Module) -> None:
    """Move every weight off its orthogonal initialisation so the penalty is clearly non-zero."""
    torch.manual_seed(3)
    with torch.no_grad():
        for p in G.parameters():
            if p.ndim >= 2:
                p.add_(0.05 * torch.randn_like(p))


def test_registered_with_the_papers_defaults():
    fam = FAMILIES["biggan"]()
    assert isinstance(fam, BigGAN)
    assert fam.loss == "hinge" and fam.d_steps == 2 and fam.ortho_beta == 1e-4
    assert not fam.reuses_fakes  # two D steps: G's step draws fresh latents
    with pytest.raises(ConfigError, match="ortho_beta"):
        BigGAN(ortho_beta=-1.0)


def test_g_loss_is_hinge_plus_orthogonal_penalty_over_g():
    G, D = _models()
    _perturb_(G)
    fam = BigGAN(ortho_beta=1e-2)
    fam.setup(G, D, 10)
    latent = fam.sample_latent(6, 12, torch.device("cpu"), torch.Generator().manual_seed(0))
    fakes = G(latent.z, latent.labels)
    loss, stats = fam.g_loss(D, fakes, latent)
    hinge = -D(fakes, latent.labels).mean()
    penalty = 1e-2 * _reference_penalty(G)
    assert penalty.item() > 1e-3  # large enough to be seen in the sum
    assert loss.item() == pytest.approx(hinge.item() + penalty.item(), rel=1e-6)
    assert stats["g_loss"].item() == pytest.approx(hinge.item(), rel=1e-6)
    assert stats["g_ortho"].item() == pytest.approx(penalty.item(), rel=1e-6)
    # Off: the hinge loss alone.
    off = BigGAN(ortho_beta=0.0)
    off.setup(G, D, 10)
    loss0, stats0 = off.g_loss(D, fakes, latent)
    assert loss0.item() == pytest.approx(hinge.item(), rel=1e-6) and "g_ortho" not in stats0


@pytest.mark.parametrize("shared", [True, False])
def test_orthogonal_penalty_excludes_class_embeddings(shared):
    G, D = _models(shared_embedding=shared)
    _perturb_(G)
    G.eval(), D.eval()  # frozen power iterations and BatchNorm statistics: identical forwards
    tables = G.class_embeddings()
    assert len(tables) == (1 if shared else len(G.blocks))
    on, off = BigGAN(ortho_beta=1e-2), BigGAN(ortho_beta=0.0)
    for fam in (on, off):
        fam.setup(G, D, 10)
    latent = on.sample_latent(6, 12, torch.device("cpu"), torch.Generator().manual_seed(1))
    grads = {}
    for name, fam in (("on", on), ("off", off)):
        G.zero_grad()
        loss, _ = fam.g_loss(D, G(latent.z, latent.labels), latent)
        loss.backward()
        grads[name] = {n: p.grad.clone() for n, p in G.named_parameters() if p.grad is not None}
    # Embedding gradients come from the adversarial loss only; a conv's gradient includes the penalty.
    for table in tables:
        name = next(n for n, p in G.named_parameters() if p is table.weight)
        torch.testing.assert_close(grads["on"][name], grads["off"][name], rtol=1e-6, atol=1e-9)
    conv = "blocks.0.conv1.parametrizations.weight.original"
    assert (grads["on"][conv] - grads["off"][conv]).abs().max() > 1e-4
    # Making an embedding table far from orthogonal leaves the penalty unchanged.
    before = on.orthogonal_penalty().item()
    with torch.no_grad():
        tables[0].weight.fill_(1.0)
    assert on.orthogonal_penalty().item() == pytest.approx(before, rel=1e-9)


def test_orthogonal_penalty_gradient_on_a_known_matrix_inside_g():
    G, D = _models()
    fam = BigGAN(ortho_beta=1.0)
    fam.setup(G, D, 10)
    weight = G.linear.parametrizations.weight.original  # [256, 4]: replace by a known matrix
    with torch.no_grad():
        for p in G.parameters():
            if p.ndim >= 2 and p is not weight:
                p.copy_(torch.zeros_like(p))
        weight.zero_()
        weight[:3, :2] = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.0, 1.0]])
    G.zero_grad()
    penalty = fam.orthogonal_penalty()
    penalty.backward()
    # W W^T off-diagonal entries 2, 2, 1, 1 (twice each): value 10; gradient 4 (W W^T (.) (1 - I)) W.
    assert penalty.item() == pytest.approx(10.0, rel=1e-7)
    torch.testing.assert_close(weight.grad[:3, :2], torch.tensor([[16.0, 8.0], [8.0, 4.0], [8.0, 4.0]]))
    assert weight.grad[3:].abs().max() == 0


def test_standing_stats_replace_running_statistics_by_the_average_over_batches():
    G, D = _models()
    fam = BigGAN()
    fam.setup(G, D, 10)
    G.train()
    for _ in range(3):  # training-time running averages
        G(torch.randn(8, 12) * 3, torch.randint(0, 10, (8,)))
    bn = G.blocks[1].bn1.bn
    seen = []
    hook = bn.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    sn_vectors = {n: b.clone() for n, b in G.named_buffers() if n.endswith("_u")}
    old_mean = bn.running_mean.clone()
    standing_stats_(G, fam, n_batches=3, batch_size=8, seed=5)
    hook.remove()
    assert len(seen) == 3 and all(x.shape[0] == 8 for x in seen)
    means = torch.stack([x.mean(dim=(0, 2, 3)) for x in seen])
    variances = torch.stack([x.var(dim=(0, 2, 3), unbiased=True) for x in seen])
    torch.testing.assert_close(bn.running_mean, means.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, variances.mean(0), rtol=1e-5, atol=1e-6)
    assert (bn.running_mean - old_mean).abs().max() > 1e-3
    # Only BatchNorms ran in training mode: spectral-norm estimates did not move.
    for n, b in G.named_buffers():
        if n in sn_vectors:
            torch.testing.assert_close(b, sn_vectors[n], rtol=0, atol=0)
    assert not G.training and bn.momentum == 0.1
    # Reproducible by seed; truncation changes the latents and so the statistics.
    again = bn.running_mean.clone()
    standing_stats_(G, fam, n_batches=3, batch_size=8, seed=5)
    torch.testing.assert_close(bn.running_mean, again, rtol=0, atol=0)
    standing_stats_(G, fam, n_batches=3, batch_size=8, seed=5, truncation=0.2)
    assert (bn.running_mean - again).abs().max() > 1e-4


def _decay(cfg):
    t = cfg.train
    return ema_decay_from_half_life(t.batch_size * t.accumulate, t.ema_half_life_kimg * 1000)


def test_recipes_carry_the_papers_settings():
    big = load_recipe("biggan-128")
    validated_sections(big)
    g, d, fam = big.generator, big.discriminator, big.family
    assert g["width"] == d["width"] == 96 and list(g["multipliers"]) == [16, 16, 8, 4, 2, 1]
    assert list(d["multipliers"]) == [1, 2, 4, 8, 16, 16]
    assert g["z_dim"] == 120 and g["shared_dim"] == 128 and g["attention_resolution"] == 64
    assert d["attention_resolution"] == 64 and big.data.image_size == 128
    assert fam == {"name": "biggan", "loss": "hinge", "d_steps": 2, "ortho_beta": 1e-4}
    o = big.optim
    assert (o.g_lr, o.d_lr, tuple(o.betas), o.eps) == (5e-5, 2e-4, (0.0, 0.999), 1e-6)
    assert big.train.batch_size * big.train.accumulate == 2048 and big.train.ema
    for name, decay in (("biggan-128", 0.9999), ("biggan-cifar", 0.9999), ("biggan-mnist", 0.995)):
        cfg = load_recipe(name)
        validated_sections(cfg)
        assert cfg.train.ema and _decay(cfg) == pytest.approx(decay, abs=1e-7), name
        assert cfg.family["loss"] == "hinge" and cfg.family["ortho_beta"] == 1e-4
        assert tuple(cfg.optim.betas) == (0.0, 0.999) and cfg.optim.eps == 1e-6
    cifar = load_recipe("biggan-cifar")
    assert cifar.data.image_size == 32 and cifar.generator["width"] * 4 == 256
    assert cifar.discriminator["final_resolution"] == 8


def test_half_life_formula_matches_decay():
    # half-life (images) = batch * ln(0.5) / ln(decay); the recipes store it in kimg.
    assert 2048 * math.log(0.5) / math.log(0.9999) / 1000 == pytest.approx(14194.94, abs=0.01)
    assert 50 * math.log(0.5) / math.log(0.9999) / 1000 == pytest.approx(346.556, abs=0.001)
    assert 64 * math.log(0.5) / math.log(0.995) / 1000 == pytest.approx(8.850, abs=0.001)
