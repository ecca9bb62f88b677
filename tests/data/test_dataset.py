import pytest
import torch

from ganforge.data import ImageDataset, PointDataset


def test_image_dataset_properties():
    data = ImageDataset(images=torch.zeros(5, 3, 16, 16, dtype=torch.uint8),
                        labels=torch.arange(5), num_classes=5, name="test")
    assert (len(data), data.channels, data.image_size, data.skipped) == (5, 3, 16, 0)


@pytest.mark.parametrize("images, labels, num_classes", [
    (torch.zeros(2, 3, 8, 8), None, 0),                          # float, not uint8
    (torch.zeros(2, 2, 8, 8, dtype=torch.uint8), None, 0),       # 2 channels
    (torch.zeros(2, 3, 8, 6, dtype=torch.uint8), None, 0),       # not square
    (torch.zeros(2, 8, 8, 3, dtype=torch.uint8).permute(0, 3, 1, 2), None, 0),  # not contiguous
    (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), 1),  # label count
    (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32), 1),  # label dtype
    (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), None, 10),      # classes without labels
])
def test_image_dataset_rejects_malformed_records(images, labels, num_classes):
    with pytest.raises(ValueError):
        ImageDataset(images=images, labels=labels, num_classes=num_classes, name="bad")


def test_point_dataset_len():
    data = PointDataset(points=torch.zeros(7, 2), labels=torch.zeros(7, dtype=torch.int64),
                        modes=torch.zeros(1, 2), std=0.1, name="toy")
    assert len(data) == 7 and data.num_classes == 0
