"""BEGAN: the auto-encoder models, the k_t control, M_global, learning-rate decay and resume."""

import copy

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.families.base import Latent
from ganforge.families.began import BEGAN
from ganforge.models.began import BEGANDiscriminator, BEGANGenerator
from ganforge.training import checkpoint as ckpt
from ganforge.training.trainer import Trainer
from tests.families.conftest import build, read_log, tiny, train

NOISE = torch.Generator()


def test_models_follow_the_paper_layout():
    G = BEGANGenerator((3, 32, 32), z_dim=8, width=4)
    D = BEGANDiscriminator((3, 32, 32), width=4, hidden=8)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, 3, 32, 32) and x.abs().max() <= 1
    assert D.features(x).shape == (5, 8) and D.reconstruct(x).shape == x.shape
    torch.testing.assert_close(D(x), -(x - D.reconstruct(x)).abs().mean((1, 2, 3)))
    convs = [m for m in D.encoder.net if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs if m.stride == (2, 2)] == [8, 12]  # 32 -> 16 -> 8: n, 2n, 3n
    assert sum(isinstance(m, nn.Upsample) for m in G.decoder.net) == 2
    assert sum(isinstance(m, nn.ELU) for m in D.modules()) == sum(
        isinstance(m, nn.Conv2d) for m in D.modules()) - 1  # ELU after all but the output conv
    for shape in [(1, 24, 24), (2,)]:
        with pytest.raises(ConfigError):
            BEGANDiscriminator(shape)


def test_linear_output_is_the_decoder_itself():
    """tanh=False (the paper's linear decoder output) returns the decoder's values unsquashed;
    the default squashes the same values with tanh."""
    torch.manual_seed(0)
    G = BEGANGenerator((1, 16, 16), z_dim=8, width=4, tanh=False)
    with torch.no_grad():
        G.decoder.net[-1].bias.fill_(3.0)  # push the output past tanh's range
        z = torch.randn(3, 8)
        linear = G(z)
        G.tanh = True
        squashed = G(z)
    assert linear.min() > 1.5
    torch.testing.assert_close(squashed, torch.tanh(linear))


@pytest.mark.parametrize("skip", [False, True])
def test_skip_connections_carry_h0_to_the_last_scale(skip):
    """With every convolution before the last upsampling zeroed, the image ignores h unless the
    decoder's skip connections bring h0 to the last scale."""
    torch.manual_seed(0)
    G = BEGANGenerator((1, 32, 32), z_dim=8, width=4, skip=skip)
    convs = [m for m in G.decoder.net if isinstance(m, nn.Conv2d)]
    assert [m.in_channels for m in convs] == ([4, 4, 8, 4, 8, 4, 4] if skip else [4] * 7)
    with torch.no_grad():
        for conv in convs[:4]:  # the 8x8 and 16x16 blocks
            conv.weight.zero_()
            conv.bias.zero_()
        a, b = G(torch.randn(1, 8)), G(torch.randn(1, 8))
    assert ((a - b).abs().max() > 1e-3) == skip
    D = BEGANDiscriminator((1, 32, 32), width=4, hidden=8, skip=skip)
    assert D.reconstruct(a).shape == a.shape


def test_small_autoencoder_reconstructs_any_collapsed_batch_as_one_image():
    """The small auto-encoder D (the recipe's): one strided convolution each way around a batch-
    normed bottleneck. In training mode a batch of identical images carries no batch statistics,
    so whatever the image, D reconstructs the same fixed one, and a collapsed G cannot be
    reconstructed well; varied batches are reconstructed image by image."""
    torch.manual_seed(0)
    D = BEGANDiscriminator((1, 16, 16), width=4, hidden=8, autoencoder="small")
    assert [type(m) for m in D.encoder.net] == [nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear]
    assert D.encoder.net[0].stride == (2, 2) and sum(isinstance(m, nn.BatchNorm1d) for m in D.modules()) == 2
    blank, stroke = torch.full((6, 1, 16, 16), -1.0), torch.full((6, 1, 16, 16), -1.0)
    stroke[:, :, 4:12, 7:9] = 1.0
    varied = torch.rand(6, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        assert D.features(varied).shape == (6, 8)
        torch.testing.assert_close(D.reconstruct(blank), D.reconstruct(stroke))
        out = D.reconstruct(varied)
    assert out.shape == varied.shape and (out - out[:1]).abs().max() > 1e-3
    # The decoder's last upsampling and convolution run folded: the same as its layers in turn.
    h = torch.randn(6, 8)
    torch.testing.assert_close(D.decoder(h), D.decoder.net(h))
    with pytest.raises(ConfigError, match="skip"):
        BEGANDiscriminator((1, 16, 16), autoencoder="small", skip=True)
    with pytest.raises(ConfigError, match="autoencoder"):
        BEGANDiscriminator((1, 16, 16), autoencoder="deep")


def test_the_small_autoencoder_scores_alike_under_bf16_autocast_and_channels_last():
    """What train.precision=auto runs on a CPU with AMX (the began recipe's setting): bf16
    autocast, images and models channels-last. D's score, the reconstruction error, and its
    gradient (what G learns from) agree with fp32 in the default layout to bf16 rounding."""
    torch.manual_seed(0)
    D = BEGANDiscriminator((1, 16, 16), width=8, hidden=8, autoencoder="small")
    x = (torch.rand(16, 1, 16, 16) * 2 - 1).requires_grad_()
    reference = D.reconstruction_error(x)
    (reference_grad,) = torch.autograd.grad(reference.sum(), x)
    D_cl = copy.deepcopy(D).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        score = D_cl.reconstruction_error(x.contiguous(memory_format=torch.channels_last))
    (grad,) = torch.autograd.grad(score.sum(), x)
    assert score.dtype == torch.float32
    torch.testing.assert_close(score, reference, rtol=1e-2, atol=1e-3)
    assert nn.functional.cosine_similarity(grad.flatten(), reference_grad.flatten(), dim=0) > 0.98


class MeanEnergy(nn.Module):
    """A stand-in auto-encoder whose reconstruction error L(v) is the mean of v."""

    def reconstruction_error(self, x):
        return x.flatten(1).mean(1)


def _step(family, D, real: float, fake: float):
    reals, fakes = torch.full((4, 1, 2, 2), real), torch.full((4, 1, 2, 2), fake)
    return family.d_loss(D, reals, None, fakes, Latent(torch.zeros(4, 1)), NOISE)


def test_one_k_update_by_hand():
    family, G, D = build("began", "family.k0=0.3", "family.lambda_k=0.01")
    reals = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fakes = G(torch.randn(6, G.z_dim)).detach()
    loss, stats = family.d_loss(D, reals, None, fakes, Latent(torch.zeros(6, 1)), NOISE)
    l_real = (reals - D.reconstruct(reals)).abs().mean()
    l_fake = (fakes - D.reconstruct(fakes)).abs().mean()
    torch.testing.assert_close(loss, l_real - 0.3 * l_fake)
    gamma = family.gamma
    torch.testing.assert_close(stats["m_global"], l_real + (gamma * l_real - l_fake).abs())
    assert stats["k"].item() == pytest.approx(0.3)
    family.after_d_step(D)
    assert family.k.item() == pytest.approx(0.3 + 0.01 * (gamma * l_real.item() - l_fake.item()), abs=1e-7)
    g_loss, _ = family.g_loss(D, fakes, None)
    torch.testing.assert_close(g_loss, l_fake)


def test_k_is_clipped_to_the_unit_interval_and_averages_micro_batches():
    family = BEGAN(k0=0.5, lambda_k=100.0)
    _step(family, MeanEnergy(), real=0.4, fake=0.1)  # balance 0.5 * 0.4 - 0.1 > 0
    family.after_d_step(None)
    assert family.k.item() == 1.0
    _step(family, MeanEnergy(), real=0.1, fake=0.4)  # balance < 0
    family.after_d_step(None)
    assert family.k.item() == 0.0
    gentle = BEGAN(k0=0.5, lambda_k=0.1)
    _step(gentle, MeanEnergy(), real=0.4, fake=0.1)   # balance +0.1
    _step(gentle, MeanEnergy(), real=0.2, fake=0.4)   # balance -0.3
    gentle.after_d_step(None)  # one optimiser step over both: the mean balance -0.1
    assert gentle.k.item() == pytest.approx(0.5 - 0.01, abs=1e-7)


class Control:
    def __init__(self):
        self.images_seen, self.scaled = 0, []

    def scale_lr(self, factor):
        self.scaled.append((self.images_seen, factor))


@pytest.mark.parametrize("improving", [False, True])
def test_learning_rate_halves_when_m_global_stalls(improving):
    family, control = BEGAN(patience=100), Control()  # windows of 10 images
    for step in range(30):
        control.images_seen = step * 10
        family.before_step(control)
        fake = 0.3 - 0.005 * step if improving else 0.3  # M = 0.4 + |0.2 - fake|
        _step(family, MeanEnergy(), real=0.4, fake=fake)
        family.after_d_step(None)
    # Constant M: the first window sets the best (at 10 images), then 100 images pass without a
    # new best at 110, and another 100 at 210.
    assert control.scaled == ([] if improving else [(110, 0.5), (210, 0.5)])


def test_scale_lr_changes_both_optimisers_and_is_logged(tmp_path):
    trainer = Trainer(resolve("began", tiny("began", "optim.g_lr=1e-4", "optim.d_lr=1e-4")), tmp_path)
    trainer.control.scale_lr(0.5)
    trainer.control.scale_lr(0.5)
    assert trainer.lr_scale == 0.25
    assert [g["lr"] for g in trainer.phases.G.opt.param_groups] == [1e-4 * 0.25]
    assert [g["lr"] for g in trainer.phases.D.opt.param_groups] == [1e-4 * 0.25]
    events = [r for r in read_log(tmp_path) if r.get("event") == "lr_scale"]
    assert [e["lr_scale"] for e in events] == [0.5, 0.25]


def _state(run):
    path = ckpt.checkpoint_dirs(run)[-1]
    return load_file(str(path / ckpt.WEIGHTS)), torch.load(path / ckpt.STATE, weights_only=True)


def test_resume_continues_k_and_the_lr_schedule_exactly(tmp_path):
    sets = ("family.lambda_k=0.05", "family.patience=16")  # k moves visibly; M checked each step
    straight = train(tmp_path, "straight", "began", "train.steps=6", *sets)
    interrupted = train(tmp_path, "cut", "began", "train.steps=3", *sets)
    k_at_3 = _state(interrupted)[1]["family"]["k"]
    resumed = api.resume(interrupted, {"train": {"steps": 6}})
    (wa, sa), (wb, sb) = _state(straight), _state(resumed)
    assert k_at_3 > 0 and sa["family"]["k"] != k_at_3  # k was saved mid-run and kept moving
    assert torch.equal(sa["family"]["k"], sb["family"]["k"])
    assert sa["family"].keys() == sb["family"].keys() and sa["lr_scale"] == sb["lr_scale"]
    for key, value in sa["family"].items():  # the M_global window and best, for the lr decay
        assert torch.equal(value, sb["family"][key]) if torch.is_tensor(value) else value == sb["family"][key]
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    # Log windows that cover the same steps (1-2 and 5-6) report the same k.
    logged = {r["step"]: r["k"] for r in read_log(resumed) if "k" in r}
    reference = {r["step"]: r["k"] for r in read_log(straight) if "k" in r}
    assert logged[2] == reference[2] and logged[6] == reference[6]
