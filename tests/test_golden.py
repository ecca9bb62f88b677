"""Golden samples: tiny fixed runs whose samples were recorded before the issue-16 redesign
(run directory owner, phases as data, layers). A refactor that changes what is trained or sampled
fails here. InfoGAN is left out on purpose: in that redesign its Q head moved to D's optimiser
only, which changes its numbers. SGAN's unused real/fake output was removed after D's
initialisation, so its samples (recorded before) stay the same."""
import hashlib

import pytest

from ganforge import api
from ganforge.config import resolve

TINY = ["data.source=digits", "data.image_size=16", "generator.width=8", "generator.z_dim=16",
        "discriminator.width=8", "train.batch_size=16", "train.progress=false", "train.grid_size=16",
        "train.log_every=3", "train.sample_every=100", "train.ckpt_every=100", "train.steps=5",
        "train.threads=1"]
BIGGAN = ["data.source=digits", "data.image_size=16", "generator.width=8", "generator.z_dim=16",
          "generator.multipliers=[2,2,1]", "generator.shared_dim=8", "generator.attention_resolution=8",
          "discriminator.width=8", "discriminator.multipliers=[1,2,2]", "discriminator.final_resolution=4",
          "discriminator.attention_resolution=8", "train.batch_size=16", "train.progress=false",
          "train.grid_size=16", "train.log_every=3", "train.sample_every=100", "train.ckpt_every=100",
          "train.steps=5", "train.threads=1", "train.ema_start_step=2"]
PGGAN = ["data.source=digits", "data.image_size=16", "generator.z_dim=16", "generator.channel_base=16",
         "generator.channel_max=16", "discriminator.channel_base=16", "discriminator.channel_max=16",
         "family.stable_kimg=0.032", "family.transition_kimg=0.032", "family.batch_sizes=[16]",
         "train.batch_size=16", "train.progress=false", "train.grid_size=16", "train.log_every=3",
         "train.sample_every=100", "train.ckpt_every=100", "train.steps=5", "train.threads=1"]

CASES = {
    # The paper's settings, recorded when they were the default `dcgan` recipe.
    "dcgan": ("dcgan-paper", TINY + ["train.ema=true", "train.ema_half_life_kimg=0.1"]),
    # The default recipe since issue 13 (R1, EMA, lr 1.6e-3): recorded after that change.
    "dcgan-default": ("dcgan", TINY),
    # The cgan and acgan recipes now append the one-hot label to z (concat); multiply, the
    # conditioning these values were recorded with, stays pinned by the first two cases.
    "acgan": ("acgan", TINY + ["generator.conditioning=multiply"]),
    "cgan": ("cgan", TINY + ["generator.conditioning=multiply"]),
    "acgan-concat": ("acgan", TINY),
    "cgan-concat": ("cgan", TINY),
    "wgan-gp": ("wgan-gp", TINY),
    "biggan": ("biggan-mnist", BIGGAN),
    "pggan": ("pggan-mnist", PGGAN),
    "sgan": ("sgan", TINY),
}
GOLDEN = {  # sha256 of the float32 samples' bytes, first 16 hex digits (CPU, fp32, 1 thread)
    "acgan": "d5c6c7fd4a2c97a8",
    "acgan-concat": "e7667329db43383b",
    "biggan": "a94ebd7f32931d2c",
    "cgan": "0866eb52221f8364",
    "cgan-concat": "65dd02cc58d35c16",
    "dcgan": "12e78ffac292b24d",
    "dcgan-default": "3ee75ce6a4966a8e",
    "pggan": "f4e75a5846dfa297",
    "sgan": "44b68666b76d6750",
    "wgan-gp": "1834995ae56b99ef",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_samples_of_a_fixed_run_are_unchanged(tmp_path, case):
    recipe, sets = CASES[case]
    run = api.train(resolve(recipe, sets), out=tmp_path / case)
    samples = api.load(run).sample(8, seed=3)
    assert hashlib.sha256(samples.numpy().tobytes()).hexdigest()[:16] == GOLDEN[case]
