import pytest

# Tiny, fast settings shared by training tests: same code path as users, small sizes.
TINY_DCGAN = [
    "data.image_size=16", "generator.width=8", "generator.z_dim=16", "discriminator.width=8",
    "train.batch_size=16", "train.log_every=2", "train.sample_every=4", "train.ckpt_every=4",
    "train.progress=false", "train.grid_size=16",
]


@pytest.fixture
def tiny_dcgan():
    return list(TINY_DCGAN)
