"""Classification accuracy of a trained SGAN's discriminator (ganforge.explore.accuracy)."""
from types import SimpleNamespace

import torch
from torch import nn

from ganforge.data import load_dataset
from ganforge.explore.accuracy import classifier_accuracy, run_accuracy
from ganforge.families.sgan import labelled_subset
from ganforge.training import checkpoint as ckpt
from tests.families.conftest import build, train


class PixelClassifier(nn.Module):
    """Class logits are the first K pixels of the image: the brightest of them is the class."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.heads = nn.ModuleDict({"cls": nn.Identity()})
        self.unused = nn.Parameter(torch.zeros(1))

    def features(self, x, labels=None):
        return x.flatten(1)[:, :self.k]


def test_classifier_accuracy_on_a_constructed_case():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
    predicted = torch.tensor([0, 1, 2, 0, 1, 0, 0, 2, 2, 1])  # 7 of 10 right
    images = torch.zeros(10, 1, 2, 2, dtype=torch.uint8)
    images.view(10, -1)[torch.arange(10), predicted] = 255
    D = PixelClassifier(3)
    assert classifier_accuracy(D, images, labels, batch_size=3) == 0.7
    floats = images.float() / 127.5 - 1  # images already scaled to [-1, 1] give the same
    assert classifier_accuracy(D, floats, labels) == 0.7
    assert D.training  # its mode is restored


def test_accuracy_of_a_trained_run(tmp_path):
    run = train(tmp_path, "sgan", "sgan", "train.steps=2")
    D = build("sgan")[2]
    tensors, _, _, _ = ckpt.load_latest(run, with_state=False)
    D.load_state_dict(tensors["D"])
    digits = load_dataset("mnist", image_size=16)
    unlabelled = torch.ones(5000, dtype=torch.bool)
    unlabelled[labelled_subset(digits.labels, 0.02, 0)] = False
    assert int(unlabelled.sum()) == 4900
    expected = classifier_accuracy(D, digits.images[unlabelled], digits.labels[unlabelled])
    assert run_accuracy(run) == expected
    first = SimpleNamespace(images=digits.images[:50], labels=digits.labels[:50])
    assert run_accuracy(run, dataset=first) == classifier_accuracy(D, first.images, first.labels)
