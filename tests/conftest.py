import pytest

from ganforge.data import load_dataset
from ganforge.data.dataset import ImageDataset
from ganforge.metrics.classifier import save_classifier, train_classifier

# Tiny, fast settings shared by training tests: same code path as users, small sizes.
TINY_DCGAN = [
    "data.image_size=16", "generator.width=8", "generator.z_dim=16", "discriminator.width=8",
    "train.batch_size=16", "train.log_every=2", "train.sample_every=4", "train.ckpt_every=4",
    "train.progress=false", "train.grid_size=16",
]


@pytest.fixture
def tiny_dcgan():
    return list(TINY_DCGAN)


@pytest.fixture(scope="module")
def mnist16():
    return load_dataset("mnist", image_size=16)


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory, mnist16):
    """A LeNet trained for 2 epochs on 600 digits: weak, but a real extractor."""
    subset = ImageDataset(mnist16.images[:600].contiguous(), mnist16.labels[:600].contiguous(), 10, "mnist-600")
    model, accuracy = train_classifier(subset, epochs=2, seed=0)
    return save_classifier(model, {"held_out_accuracy": accuracy}, tmp_path_factory.mktemp("clf") / "mnist")
