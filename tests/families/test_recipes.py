"""Every family trains from its recipe through the user's code path, on the bundled digits and on
a folder of labelled images, and logs its own statistics."""
import pytest
import torch
from safetensors.torch import load_file

from ganforge import api
from ganforge.config import resolve
from ganforge.families import FAMILIES
from ganforge.objectives import LOSSES
from ganforge.training import checkpoint as ckpt
from tests.families.conftest import build, read_log, train

RECIPES = {  # recipe -> (family name, statistics it must log, D steps in G steps 0, 1, 2)
    "wgan": ("wgan", {"d_real", "d_fake"}, 3 + 2 + 2),      # tiny warm-up: 3 D steps at step 0
    "wgan-gp": ("wgan-gp", {"gp"}, 2 + 2 + 2),
    "cgan": ("cgan", {"d_real", "d_fake"}, 3),
    "acgan": ("acgan", {"d_aux", "g_aux", "cls_acc"}, 3),
    "infogan": ("infogan", {"mi_cat", "mi_cont", "q_cat_acc"}, 3),
    "sgan": ("sgan", {"d_sup", "cls_acc"}, 3),
    "began": ("began", {"k", "m_global", "l_real", "l_fake"}, 3),
}


@pytest.mark.parametrize("source", ["mnist", "folder"])
@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_recipe_trains_on_digits_and_on_a_folder(tmp_path, class_folder, recipe, source):
    data = "data.source=mnist" if source == "mnist" else f"data.source={class_folder}"
    run = train(tmp_path, "run", recipe, data, "train.steps=3")
    log = read_log(run)
    assert [r["step"] for r in log] == [2, 3]
    family, stats, d_steps = RECIPES[recipe]
    assert resolve(recipe).family["name"] == family
    for key in {"d_loss", "g_loss"} | stats:
        assert all(key in r and r[key] is not None for r in log), key
    assert log[-1]["images_seen"] == d_steps * 16  # one real batch of 16 per D step
    weights = load_file(str(ckpt.checkpoint_dirs(run)[-1] / ckpt.WEIGHTS))
    assert any(k.startswith("G.") for k in weights) and any(k.startswith("D.") for k in weights)
    assert (run / "samples" / "step-00000003.png").is_file()
    channels = 1 if source == "mnist" else 3
    assert api.load(run).sample(2).shape == (2, channels, 16, 16)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("recipe", ["wgan", "wgan-gp", "cgan", "acgan", "infogan", "sgan"])
def test_every_logit_family_takes_every_loss(recipe, loss):
    family, G, D = build(recipe, f"family.loss={loss}")
    assert family.objective is LOSSES[loss]
    gen = torch.Generator().manual_seed(0)
    reals = torch.rand(4, 1, 16, 16, generator=gen) * 2 - 1
    labels = torch.tensor([0, 1, 2, 3])
    if recipe == "sgan":
        family.set_labelled_data(reals, labels)
    latent = family.sample_latent(4, G.noise_dim, torch.device("cpu"), gen)
    fakes = family.generate(G, latent)
    d_loss, _ = family.d_loss(D, reals, labels, fakes.detach(), latent, gen)
    g_loss, _ = family.g_loss(D, fakes, latent)
    assert d_loss.dim() == 0 and g_loss.dim() == 0
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    g_loss.backward()  # the G loss reaches G's weights
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters())


def test_began_refuses_logit_losses():
    from ganforge.errors import ConfigError
    with pytest.raises(ConfigError, match="family.loss must be 'began'"):
        FAMILIES["began"](loss="hinge")


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_losses_of_half_precision_logits_are_computed_in_fp32(loss):
    real = torch.linspace(-3, 3, 64).to(torch.bfloat16)
    fake = (real * 0.5 + 0.123).to(torch.bfloat16)
    objective = LOSSES[loss]
    d, g = objective.d(real, fake), objective.g(fake)
    assert d.dtype == g.dtype == torch.float32
    assert torch.equal(d, objective.d_of_logits(real.float(), fake.float()))
    assert torch.equal(g, objective.g_of_logits(fake.float()))
