"""Semi-supervised GAN: the labelled subset, the (K+1)-class losses, and accuracy."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from ganforge.errors import ConfigError, GanforgeError
from ganforge.families.sgan import SGAN, labelled_subset
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


def test_d_has_no_real_fake_output_and_loads_checkpoints_that_had_one():
    """SGAN's real/fake logit is the logsumexp of its class logits: D's own output layer would
    never train, so setup removes it; state written while it existed still loads."""
    _, _, D = build("sgan")
    assert not hasattr(D, "out") and not any(k.startswith("out.") for k in D.state_dict())
    old = {**D.state_dict(), "out.weight": torch.zeros(1, D.feature_dim), "out.bias": torch.zeros(1)}
    D.load_state_dict(old)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    torch.testing.assert_close(SGAN().critic(D, x, None), torch.logsumexp(SGAN.class_logits(D, x), 1))


def test_feature_matching_g_loss_matches_the_mean_real_features_of_the_d_step():
    """Salimans et al. 2016, sec. 3.1: G's loss is the distance between the mean features (D's
    last hidden layer) of its batch and of the real batch D has just seen."""
    family, G, D = build("sgan", "family.feature_matching=true")
    D.eval()
    gen = torch.Generator().manual_seed(0)
    family.set_labelled_data(torch.randint(0, 256, (20, 1, 16, 16), generator=gen, dtype=torch.uint8),
                             torch.arange(10).repeat(2))
    latent = family.sample_latent(8, G.noise_dim, torch.device("cpu"), gen)
    fakes = family.generate(G, latent)
    with pytest.raises(GanforgeError, match="D step before"):
        family.g_loss(D, fakes, latent)
    reals = torch.rand(8, 1, 16, 16, generator=gen) * 2 - 1
    family.d_loss(D, reals, None, fakes.detach(), latent, gen)
    loss, _ = family.g_loss(D, fakes, latent)
    expected = (D.features(fakes).mean(0) - D.features(reals).mean(0)).square().mean()
    torch.testing.assert_close(loss, expected)
    loss.backward()  # trains G through D's features
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)
    assert not SGAN().feature_matching  # off unless asked for
