"""Semi-supervised GAN: the labelled subset, the (K+1)-class losses, and accuracy."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.data import load_dataset
from ganforge.errors import ConfigError
from ganforge.families.sgan import SGAN, classifier_accuracy, labelled_subset, run_accuracy
from ganforge.training import checkpoint as ckpt
from tests.families.conftest import build, train


def test_labelled_subset_is_stratified_and_fixed_by_seed():
    labels = torch.arange(3).repeat_interleave(torch.tensor([100, 50, 10]))
    subset = labelled_subset(labels, 0.1, seed=4)
    assert torch.bincount(labels[subset]).tolist() == [10, 5, 1]
    assert torch.equal(subset, labelled_subset(labels, 0.1, seed=4))
    assert not torch.equal(subset, labelled_subset(labels, 0.1, seed=5))
    assert torch.equal(subset, subset.unique())  # sorted, no repeats
    assert torch.bincount(labels[labelled_subset(labels, 0.001, 0)]).tolist() == [1, 1, 1]
    with pytest.raises(ConfigError):
        SGAN(label_fraction=0.0)


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


def test_d_loss_is_the_k_plus_one_class_likelihood():
    family, G, D = build("sgan")
    D.eval()
    gen = torch.Generator().manual_seed(0)
    data = torch.randint(0, 256, (40, 1, 16, 16), generator=gen, dtype=torch.uint8)
    labels = torch.arange(10).repeat(4)
    family.set_labelled_data(data, labels)
    reals = torch.rand(8, 1, 16, 16, generator=gen) * 2 - 1
    latent = family.sample_latent(8, G.noise_dim, torch.device("cpu"), gen)
    fakes = family.generate(G, latent).detach()
    state = gen.get_state()
    loss, stats = family.d_loss(D, reals, None, fakes, latent, gen)
    gen.set_state(state)
    x_lab, y_lab = family.labelled_batch(8, gen)  # the same draw the step made
    logits = D.heads["cls"](D.features(x_lab))
    lse_real = torch.logsumexp(D.heads["cls"](D.features(reals)), 1)
    lse_fake = torch.logsumexp(D.heads["cls"](D.features(fakes)), 1)
    adversarial = F.softplus(-lse_real).mean() + F.softplus(lse_fake).mean()
    supervised = F.cross_entropy(logits, y_lab)
    torch.testing.assert_close(loss, adversarial + supervised)
    torch.testing.assert_close(stats["d_sup"], supervised.detach())
    torch.testing.assert_close(stats["cls_acc"], (logits.argmax(1) == y_lab).float().mean())
    # Labelled batches come from the 2% subset only: 1 image per class of these 40.
    assert len(family._labelled_y) == 10


def test_labelled_subset_is_taken_from_the_training_data_once():
    family, _, _ = build("sgan", "family.label_fraction=0.5")
    data = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1)
    labels = torch.arange(20) % 2
    control = SimpleNamespace(training_data=lambda: (data, labels))
    family.before_step(control)
    first = family._labelled_x.clone()
    assert len(first) == 10 and torch.equal(family._labelled_y.bincount(), torch.tensor([5, 5]))
    control.training_data = lambda: pytest.fail("read again")
    family.before_step(control)
    assert torch.equal(family._labelled_x, first)


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
