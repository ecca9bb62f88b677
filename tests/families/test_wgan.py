"""WGAN's clipping and critic schedule, WGAN-GP's penalty."""
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.families.base import Latent
from ganforge.families.wgan import WGAN, WGANGP
from ganforge.training import checkpoint as ckpt
from tests.families.conftest import build, read_log, train
from tests.objectives.critics import LinearCritic


def test_critic_steps_follow_the_reference_warm_up():
    wgan = WGAN()
    steps = [wgan.d_steps_at(g) for g in range(0, 1502)]
    assert steps[:25] == [100] * 25
    assert steps[25:500] == [5] * 475
    assert steps[500] == 100 and steps[501:1000] == [5] * 499
    assert steps[1000] == 100 and steps[1500] == 100 and steps[1501] == 5
    no_warmup = WGAN(warmup_d_steps=0)
    assert {no_warmup.d_steps_at(g) for g in range(1001)} == {5}
    assert [WGAN(d_steps=2, warmup_d_steps=7, warmup_g_steps=2, warmup_every=0).d_steps_at(g)
            for g in range(5)] == [7, 7, 2, 2, 2]


def test_critic_steps_are_what_the_trainer_runs(tmp_path):
    run = train(tmp_path, "w", "wgan", "train.steps=4", "train.log_every=1",
                "family.warmup_d_steps=4", "family.warmup_g_steps=2", "family.d_steps=1")
    seen = [r["images_seen"] for r in read_log(run)]
    assert seen == [64, 128, 144, 160]  # 4, 4, 1, 1 critic steps of 16 images


def test_weights_stay_clipped_after_training_steps(tmp_path):
    run = train(tmp_path, "clip", "wgan", "train.steps=3")
    weights = load_file(str(ckpt.checkpoint_dirs(run)[-1] / ckpt.WEIGHTS))
    critic = torch.cat([v.flatten() for k, v in weights.items()
                        if k.startswith("D.") and v.is_floating_point() and "running" not in k])
    generator = torch.cat([v.flatten() for k, v in weights.items()
                           if k.startswith("G.") and v.is_floating_point() and "running" not in k])
    assert critic.abs().max().item() == pytest.approx(0.01, abs=1e-9)  # bound reached and held
    assert generator.abs().max() > 0.05  # only the critic is clipped


def test_wgan_recipe_has_the_paper_method_at_8x_its_rate():
    """The paper's critic, clipping, critic steps and RMSprop; the rate 8x the paper's 5e-5,
    decaying over the second half (issue 13: 131 -> 39 classifier-FID over three seeds)."""
    cfg = resolve("wgan")
    assert (cfg.optim.name, cfg.optim.g_lr, cfg.optim.d_lr) == ("rmsprop", 4e-4, 4e-4)
    assert (cfg.optim.decay_start, cfg.train.steps, cfg.train.ema) == (0.5, 2500, False)
    assert WGAN(**{k: v for k, v in cfg.family.items() if k != "name"}) == WGAN()
    # issue 13: a fully connected layer before the critic's output (clipped like the rest):
    # 38.88 -> 15.12 classifier-FID over three seeds at 2,500 G steps
    assert cfg.discriminator["dense"] == 1024 and "dense" not in cfg.generator


def test_clip_applies_to_every_critic_parameter():
    family, _, D = build("wgan", "family.clip=0.003")
    with torch.no_grad():
        for p in D.parameters():
            p.normal_(0, 1)
    family.after_d_step(D)
    values = torch.cat([p.flatten() for p in D.parameters()])
    assert values.abs().max().item() == pytest.approx(0.003, abs=1e-9)
    assert values.min().item() == pytest.approx(-0.003, abs=1e-9)
    with pytest.raises(ConfigError):
        WGAN(clip=-1.0)


def test_gradient_penalty_of_a_linear_critic_is_exact():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(12, generator=gen)  # ||w|| about 3.5: a penalty far from zero
    D = LinearCritic(w)
    reals, fakes = torch.randn(8, 3, 2, 2, generator=gen), torch.randn(8, 3, 2, 2, generator=gen)
    family = WGANGP()
    loss, stats = family.d_loss(D, reals, None, fakes, Latent(torch.zeros(8, 1)), gen)
    norm = w.norm()
    expected_gp = (norm - 1) ** 2
    critic = (fakes.flatten(1) @ w).mean() - (reals.flatten(1) @ w).mean()
    torch.testing.assert_close(stats["gp"], expected_gp, rtol=1e-6, atol=0)
    torch.testing.assert_close(loss, critic + 10 * expected_gp, rtol=1e-6, atol=0)
    loss.backward()  # the penalty's gradient flows back to w through the double backward
    expected_grad = (fakes.flatten(1).mean(0) - reals.flatten(1).mean(0)
                     + 10 * 2 * (norm - 1) * w / norm)
    torch.testing.assert_close(D.w.grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_wgan_gp_recipe_critic_has_no_batchnorm_and_fresh_fakes():
    family, _, D = build("wgan-gp")
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    cfg = resolve("wgan-gp")
    assert cfg.family == {"name": "wgan-gp", "loss": "wasserstein", "d_steps": 5, "gp_weight": 10.0}
    # 5x the paper's 1e-4 (issue 13: ~2,300 G steps fit 20 minutes on 2 cores), the authors' betas
    assert (cfg.optim.name, cfg.optim.g_lr, cfg.optim.d_lr, cfg.optim.betas) == ("adam", 5e-4, 5e-4, (0.5, 0.9))
    assert cfg.train.steps == 1800
    assert not family.reuses_fakes  # d_steps > 1: each critic step draws fresh fakes
    assert WGANGP(d_steps=1).reuses_fakes
    assert not WGAN(d_steps=1).reuses_fakes  # its warm-up still runs many critic steps
