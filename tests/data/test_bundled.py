import pytest
import torch

from ganforge.data import ImageDataset, load_dataset, stack_digits
from ganforge.errors import DataError


@pytest.fixture(scope="module")
def mnist28():
    return load_dataset("mnist", image_size=28)


def test_mnist_shape_dtype_and_labels(mnist28):
    assert isinstance(mnist28, ImageDataset)
    assert mnist28.images.shape == (5000, 1, 28, 28) and mnist28.images.dtype == torch.uint8
    assert mnist28.labels.dtype == torch.int64 and mnist28.labels.shape == (5000,)
    assert set(mnist28.labels.tolist()) == set(range(10)) and mnist28.num_classes == 10
    assert mnist28.class_names == [str(d) for d in range(10)]
    # Real digits: white strokes (255) on a black background (0), not rescaled.
    assert mnist28.images.max() == 255 and mnist28.images[:, :, 0, :].max() == 0
    assert 20 < mnist28.images.float().mean() < 50


def test_mnist_resizes_and_converts(mnist28):
    data = load_dataset("mnist", image_size=32, channels=3)
    assert data.images.shape == (5000, 3, 32, 32)
    assert torch.equal(data.images[:, 0], data.images[:, 1]) and torch.equal(data.images[:, 1], data.images[:, 2])
    assert torch.equal(data.labels, mnist28.labels)


def test_mnist_tensors_do_not_alias_the_cache(mnist28):
    mnist28.images.zero_()
    assert load_dataset("mnist", image_size=28).images.max() == 255


def test_digits_are_upsampled_to_full_range():
    data = load_dataset("digits", image_size=16)
    assert data.images.shape == (1797, 1, 16, 16) and data.images.dtype == torch.uint8
    assert data.num_classes == 10 and set(data.labels.tolist()) == set(range(10))
    assert data.images.max() == 255  # 16 levels were scaled to 0..255, not left at 0..16


def test_stacked_mnist_has_a_digit_per_channel():
    data = load_dataset("stacked-mnist", image_size=28, seed=1)
    assert data.images.shape == (50_000, 3, 28, 28) and data.num_classes == 1000
    assert data.labels.min() >= 0 and data.labels.max() < 1000
    assert len(torch.unique(data.labels)) > 990  # 50k draws over 1000 modes hit nearly all
    again = load_dataset("stacked-mnist", image_size=28, seed=1)
    assert torch.equal(again.images[:100], data.images[:100])


def test_stack_digits_labels_match_their_channels():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 4, 4).contiguous()
    labels = torch.arange(10)  # image i is filled with the value i, and its label is i
    stacked, modes = stack_digits(images, labels, 500, torch.Generator().manual_seed(0))
    assert stacked.shape == (500, 3, 4, 4) and stacked.dtype == torch.uint8
    digits = stacked[:, :, 0, 0].long()
    assert torch.equal(modes, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2])
    # Channels are drawn independently, not the same digit three times.
    assert (digits[:, 0] != digits[:, 1]).float().mean() > 0.8


def test_stacked_mnist_refuses_other_channel_counts():
    with pytest.raises(DataError, match="3 channels"):
        load_dataset("stacked-mnist", channels=1)
