"""Discriminator options any family can use: DiffAugment / ADA on D's inputs, PacGAN packing and
minibatch stddev in the dcgan and mlp discriminators; through the builder and the trainer."""
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from ganforge import api
from ganforge import run as run_files
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.models.discriminator_input import DiscriminatorInput, pack_samples
from ganforge.training import checkpoint as ckpt
from ganforge.training.build import build_components, validated_sections
from tests.families.conftest import build, read_log, tiny

AUG = "train.augment=color,translation,cutout"


# ---------------------------------------------------------------- packing

def test_pack_samples_concatenates_consecutive_samples_along_channels():
    x = torch.arange(6 * 2 * 3 * 3, dtype=torch.float32).view(6, 2, 3, 3)
    packed = pack_samples(x, 3)
    assert packed.shape == (2, 6, 3, 3)
    for k in range(2):
        for j in range(3):
            assert torch.equal(packed[k, 2 * j:2 * j + 2], x[3 * k + j])
    points = torch.arange(8.0).view(4, 2)
    assert torch.equal(pack_samples(points, 2), torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7]]))
    with pytest.raises(ValueError, match="cannot be packed"):
        pack_samples(points[:3], 2)


def test_a_packing_discriminator_is_built_for_m_times_the_channels():
    _, _, D = build("dcgan", "discriminator.pack=2")
    assert isinstance(D, DiscriminatorInput) and D.inner.net[0].in_channels == 2
    assert D(torch.zeros(16, 1, 16, 16)).shape == (8,)  # one score per pair
    cfg = resolve("gan-2d", ["discriminator.pack=4"])
    D = build_components(cfg, (2,), 8, seed=0).D
    assert D.inner.net[1].in_features == 8
    assert D(torch.zeros(256, 2)).shape == (64,)


@pytest.mark.parametrize("recipe, sets, message", [
    ("cgan", ["discriminator.pack=2"], "packs unlabelled samples: set discriminator.conditioning=none"),
    ("acgan", ["discriminator.pack=2"], "family 'acgan' needs per-sample heads \\(aux\\)"),
    ("dcgan", ["discriminator.pack=3"], "batch sizes divisible by 3, got 16"),
    ("dcgan", ["discriminator.pack=0"], "discriminator.pack must be >= 1"),
    ("dcgan", ["train.augment=color,flip"], "unknown train.augment 'flip'"),
    ("wgan-gp", [AUG, "train.ada_target=0.6"], "logit sign says real or fake .*'wasserstein'"),
    ("began", [AUG, "train.ada_target=0.6"], "family.loss is 'began'"),
    ("dcgan", ["discriminator.mbstd_group=-1"], "mbstd_group must be (>= 0|in \\[0, )"),
])
def test_illegal_options_are_one_line_config_errors(recipe, sets, message):
    with pytest.raises(ConfigError, match=message) as error:
        build(recipe, *sets)
    assert "\n" not in str(error.value)


def test_pack_is_a_valid_discriminator_key_and_named_among_them():
    _, _, disc = validated_sections(resolve("dcgan", ["discriminator.pack=2"]))
    assert "pack" not in disc  # the model's constructor never sees it
    with pytest.raises(ConfigError, match=r"^unknown key 'discriminator.packs' .*valid keys: .*\bpack\b"):
        validated_sections(resolve("dcgan", ["discriminator.packs=2"]))
    with pytest.raises(ConfigError, match="discriminator.pack: expected int"):
        validated_sections(resolve("dcgan", ["discriminator.pack=two"]))


def test_config_level_errors_come_at_resolve_time():
    with pytest.raises(ConfigError, match="set train.augment too"):
        resolve("dcgan", ["train.ada_target=0.6"])
    with pytest.raises(ConfigError, match="ada_target must be in"):
        resolve("dcgan", [AUG, "train.ada_target=1.5"])
    with pytest.raises(ConfigError, match="transforms images; this data is points"):
        build_components(resolve("gan-2d", [AUG]), (2,), 8, seed=0)


# ---------------------------------------------------------------- every D call goes through it

class _Blank(nn.Module):
    """An 'augmentation' that replaces every image by zeros: if all of a family's D calls are
    augmented, D cannot tell reals from fakes."""

    def forward(self, x):
        return x * 0


@pytest.mark.parametrize("recipe", ["dcgan", "wgan-gp", "cgan", "acgan", "infogan", "sgan", "began"])
def test_every_discriminator_call_of_every_family_is_augmented(recipe):
    family, G, D = build(recipe, AUG, "discriminator.batchnorm=false" if recipe == "wgan-gp" else AUG)
    D.augment = _Blank()
    noise = torch.Generator().manual_seed(0)
    latent = family.sample_latent(8, G.noise_dim, torch.device("cpu"), noise)
    fakes = family.generate(G, latent).detach()
    reals = torch.rand(8, 1, 16, 16) * 2 - 1
    labels = latent.labels if latent.labels is not None else torch.zeros(8, dtype=torch.long)
    if recipe == "sgan":
        family.set_labelled_data(torch.rand(20, 1, 16, 16), torch.arange(20) % 10)
    _, stats = family.d_loss(D, reals, labels, fakes, latent, noise)
    if recipe == "began":
        assert torch.equal(stats["l_real"], stats["l_fake"])
    else:
        assert torch.equal(stats["d_real"], stats["d_fake"])
    g_a, _ = family.g_loss(D, fakes, latent)
    g_b, _ = family.g_loss(D, torch.rand_like(fakes), latent)
    assert torch.equal(g_a, g_b)
    D.eval()  # outside training, inputs are not augmented
    assert not torch.equal(D.features(reals, labels if recipe == "cgan" else None),
                           D.features(fakes, labels if recipe == "cgan" else None))


def test_began_reconstructs_the_augmented_image_and_is_scored_against_it():
    _, _, D = build("began", AUG)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    D.augment.generator = torch.Generator().manual_seed(3)
    error = D.reconstruction_error(x)
    D.augment.generator = torch.Generator().manual_seed(3)
    augmented = D.augment(x)
    assert torch.equal(error, (augmented - D.inner.reconstruct(augmented)).abs().flatten(1).mean(1))


# ---------------------------------------------------------------- minibatch stddev

@pytest.mark.parametrize("recipe, shape, sets", [
    ("dcgan", (8, 1, 16, 16), ["discriminator.batchnorm=false"]),
    ("gan-2d", (8, 2), []),
])
def test_minibatch_stddev_makes_a_score_depend_on_its_group(recipe, shape, sets):
    cfg = resolve(recipe, tiny(recipe, "discriminator.mbstd_group=4", *sets) if recipe == "dcgan"
                  else ["discriminator.mbstd_group=4"])
    D = build_components(cfg, shape[1:], 0, seed=0).D
    x = torch.randn(shape)
    base = D(x)
    # Groups follow PGGAN's reshape: with 8 samples in groups of 4, samples 0, 2, 4, 6 are one group.
    same_group, other_group = x.clone(), x.clone()
    same_group[2] += 1.0
    other_group[1] += 1.0
    assert not torch.equal(D(same_group)[0], base[0])
    assert torch.equal(D(other_group)[0], base[0])
    off = build_components(resolve(recipe, tiny(recipe, *sets) if recipe == "dcgan" else []), shape[1:], 0, 0).D
    assert D.feature_dim == off.feature_dim + (16 if recipe == "dcgan" else 1)


# ---------------------------------------------------------------- through the trainer

@pytest.mark.parametrize("recipe, sets", [
    ("dcgan", [AUG, "train.ada_target=0.6", "discriminator.mbstd_group=4"]),
    ("cgan", [AUG]),
    ("wgan-gp", [AUG]),
    ("dcgan", ["discriminator.pack=2"]),
])
def test_tiny_runs_train_with_the_options(tmp_path, recipe, sets):
    run = api.train(resolve(recipe, tiny(recipe, "data.source=digits", "train.steps=4", *sets)),
                    out=tmp_path / "run")
    log = read_log(run)
    assert [r["step"] for r in log] == [2, 4]
    assert all(torch.isfinite(torch.tensor(r["d_loss"])) and torch.isfinite(torch.tensor(r["g_loss"]))
               for r in log)
    weights = load_file(str(ckpt.checkpoint_dirs(run)[-1] / ckpt.WEIGHTS))
    assert ("D.augment.p" in weights) == any(s.startswith("train.augment") for s in sets)
    assert ("aug_p" in log[-1]) == any("ada_target" in s for s in sets)
    # The run's config.json is read back with every option it was trained with.
    assert api.load(run).sample(2, seed=0).shape[0] == 2


def test_resume_with_augmentation_and_ada_is_bitwise_exact(tmp_path):
    # ada_kimg 0.5: each window of 4 batches of 16 moves p by 0.128, so p really changes; the cut
    # at step 3 falls inside a window, so the running r_t sums must survive the resume too.
    sets = tiny("dcgan", "data.source=digits", AUG, "train.ada_target=0.6", "train.ada_kimg=0.5",
                "train.ckpt_every=3", "train.log_every=1")
    straight = api.train(resolve("dcgan", sets + ["train.steps=9"]), out=tmp_path / "straight")
    cut = api.train(resolve("dcgan", sets + ["train.steps=3"]), out=tmp_path / "cut")
    resumed = api.resume(cut, {"train": {"steps": 9}})
    a = load_file(str(ckpt.checkpoint_dirs(straight)[-1] / ckpt.WEIGHTS))
    b = load_file(str(ckpt.checkpoint_dirs(resumed)[-1] / ckpt.WEIGHTS))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    p = [r["aug_p"] for r in read_log(straight)]
    assert p == [r["aug_p"] for r in read_log(resumed)]
    assert max(p) > 0  # ADA moved p during the run
    assert run_files.read_config(straight).train.ada_target == 0.6
