"""InfoGAN: codes in G's input, the information term and who it trains, code sweeps."""
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge.cli import main
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.explore.codes import code_sweep_latent
from ganforge.families.infogan import InfoGAN
from ganforge.objectives.information import gaussian_nll
from ganforge.training.phases import optimizer as _optimizer
from ganforge.training.trainer import Trainer
from tests.conftest import TINY_DCGAN
from tests.families.conftest import build, train


def test_codes_widen_the_generator_input():
    family, G, D = build("infogan")  # tiny: 16-d noise
    assert family.generator_input_dim(62) == 74
    assert (G.noise_dim, G.z_dim, family.z_dim) == (16, 28, 16)
    assert D.heads["q"][-1].out_features == 12  # the recipe's Q has a hidden layer
    assert build("infogan", "family.learn_std=true")[2].heads["q"][-1].out_features == 14
    assert build("infogan", "family.q_hidden=0")[2].heads["q"].out_features == 12  # one layer
    with pytest.raises(ConfigError):
        InfoGAN(categorical=0, continuous=0)


def test_q_hidden_puts_a_hidden_layer_in_q_on_ds_optimiser():
    """family.q_hidden = H: Q is linear -> batch norm -> leaky ReLU -> linear, as in the authors'
    code, still trained by D's optimiser alone."""
    family, G, D = build("infogan", "family.q_hidden=24")
    q = D.heads["q"]
    assert [type(m).__name__ for m in q] == ["Linear", "BatchNorm1d", "LeakyReLU", "Linear"]
    assert (q[0].in_features, q[0].out_features, q[3].out_features) == (D.feature_dim, 24, 12)
    q_ids = {id(p) for p in q.parameters()}
    assert q_ids <= {id(p) for p in family.d_parameters(G, D)}
    assert not q_ids & {id(p) for p in family.g_parameters(G, D)}
    latent = family.sample_latent(8, 16, torch.device("cpu"), torch.Generator().manual_seed(0))
    loss, _ = family.information_loss(q(D.features(family.generate(G, latent))), latent.codes)
    loss.backward()
    assert q[0].weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError):
        build("infogan", "family.q_hidden=-1")


def test_latent_codes_and_generator_input():
    family, G, _ = build("infogan")
    latent = family.sample_latent(500, 16, torch.device("cpu"), torch.Generator().manual_seed(0))
    cat, cont = latent.codes["cat"], latent.codes["cont"]
    assert cat.shape == (500,) and set(cat.tolist()) == set(range(10))
    assert cont.shape == (500, 2) and cont.min() >= -1 and cont.max() <= 1
    assert cont.min() < -0.95 and cont.max() > 0.95  # uniform over the whole interval
    x = family.generator_input(latent)
    assert torch.equal(x, torch.cat([latent.z, F.one_hot(cat, 10).float(), cont], 1))


def test_information_loss_by_hand():
    family = InfoGAN()
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(5, 12, generator=gen)
    codes = {"cat": torch.tensor([0, 3, 9, 9, 1]), "cont": torch.rand(5, 2, generator=gen) * 2 - 1}
    loss, stats = family.information_loss(q, codes)
    cat = F.cross_entropy(q[:, :10], codes["cat"])
    cont = (0.5 * (codes["cont"] - q[:, 10:]) ** 2).sum(1).mean() + math.log(2 * math.pi)
    torch.testing.assert_close(stats["mi_cat"], cat)
    torch.testing.assert_close(stats["mi_cont"], cont)
    torch.testing.assert_close(loss, 1.0 * cat + 0.1 * cont)
    # With a learned std the Gaussian NLL has the log-std terms.
    log_std = torch.full((5, 2), 0.5)
    torch.testing.assert_close(
        gaussian_nll(codes["cont"], q[:, 10:], log_std),
        (0.5 * ((codes["cont"] - q[:, 10:]) / math.exp(0.5)) ** 2 + 0.5
         + 0.5 * math.log(2 * math.pi)).sum(1).mean())


def test_q_head_is_trained_by_ds_optimiser_only():
    """As in the authors' code: Q's variables are D's; G's optimiser holds G alone."""
    family, G, D = build("infogan")
    g_ids = [id(p) for p in family.g_parameters(G, D)]
    d_ids = [id(p) for p in family.d_parameters(G, D)]
    q_ids = {id(p) for p in D.heads["q"].parameters()}
    assert len(g_ids) == len(set(g_ids)) and len(d_ids) == len(set(d_ids))
    assert set(g_ids) == {id(p) for p in G.parameters()} and not q_ids & set(g_ids)
    assert q_ids <= set(d_ids) and set(d_ids) == {id(p) for p in D.parameters()}


def test_the_trainers_g_optimiser_holds_no_q_parameter(tmp_path):
    trainer = Trainer(resolve("infogan", TINY_DCGAN), tmp_path)
    q_ids = {id(p) for p in trainer.D.heads["q"].parameters()}
    in_g = {id(p) for group in trainer.phases.G.opt.param_groups for p in group["params"]}
    in_d = {id(p) for group in trainer.phases.D.opt.param_groups for p in group["params"]}
    assert q_ids and not q_ids & in_g and q_ids <= in_d


def test_information_term_trains_q_and_the_d_body_in_the_d_step():
    grads = {}
    for lam in (0.0, 1.0):
        family, G, D = build("infogan", f"family.lambda_cat={lam}", f"family.lambda_cont={lam}")
        gen = torch.Generator().manual_seed(0)
        latent = family.sample_latent(8, 16, torch.device("cpu"), gen)
        reals = torch.rand(8, 1, 16, 16, generator=gen) * 2 - 1
        loss, _ = family.d_loss(D, reals, None, family.generate(G, latent).detach(), latent, gen)
        loss.backward()
        q_grad = D.heads["q"][0].weight.grad
        grads[lam] = D.net[0].weight.grad.clone()
        assert (q_grad is not None and q_grad.abs().sum() > 0) == (lam > 0)
    assert (grads[1.0] - grads[0.0]).abs().max() > 1e-6  # D's first layer learns from MI too


def test_information_term_decreases_on_a_fixed_batch():
    family, G, D = build("infogan")
    cfg = resolve("infogan")
    latent = family.sample_latent(32, 16, torch.device("cpu"), torch.Generator().manual_seed(0))
    opt = _optimizer(cfg, family.g_parameters(G, D), 1e-3)
    values = []
    for _ in range(8):  # the G step's optimiser (G alone) on the information term alone
        opt.zero_grad()
        q = D.heads["q"](D.features(family.generate(G, latent)))
        loss, _ = family.information_loss(q, latent.codes)
        loss.backward()
        opt.step()
        values.append(loss.item())
    assert all(b < a for a, b in zip(values, values[1:])), values
    assert values[-1] < values[0] - 0.1


def test_code_sweep_varies_one_code_along_each_row():
    family, _, _ = build("infogan")
    cat = code_sweep_latent(family, n_rows=3, code="cat", seed=1)
    assert len(cat) == 30 and cat.codes["cat"].tolist() == list(range(10)) * 3
    for r in range(3):
        row = slice(10 * r, 10 * r + 10)
        assert (cat.z[row] == cat.z[10 * r]).all() and (cat.codes["cont"][row] == cat.codes["cont"][10 * r]).all()
    assert not torch.equal(cat.z[0], cat.z[10])
    cont = code_sweep_latent(family, n_rows=2, code="cont1", steps=5, seed=1)
    torch.testing.assert_close(cont.codes["cont"][:5, 1], torch.linspace(-1, 1, 5))
    assert (cont.codes["cont"][:5, 0] == cont.codes["cont"][0, 0]).all()
    assert (cont.codes["cat"][:5] == cont.codes["cat"][0]).all()
    with pytest.raises(ConfigError, match="this run has: cat, cont0, cont1"):
        code_sweep_latent(family, 1, "cont2")


def test_sample_vary_code_from_the_command_line(tmp_path, capsys):
    run = train(tmp_path, "info", "infogan", "train.steps=2")
    out = tmp_path / "cat.png"
    assert main(["sample", str(run), "--vary-code", "cat", "-n", "20", "--out", str(out)]) == 0
    assert Image.open(out).size == (10 * 18 + 2, 2 * 18 + 2)  # 10 categories x 2 rows
    assert main(["sample", str(run), "--vary-code", "cont7", "--out", str(out)]) == 2
    assert "unknown InfoGAN code 'cont7'" in capsys.readouterr().err
