"""Conditional GAN: the label reaches both models, bad set-ups fail clearly, sampling by class
works from the command line, and conditional accuracy is computed as defined."""
import numpy as np
import pytest
import torch
from PIL import Image

from ganforge import api
from ganforge.cli import main
from ganforge.errors import ConfigError, GanforgeError
from ganforge.explore.points import class_tables
from ganforge.families.base import Latent
from ganforge.metrics.conditional import conditional_accuracy
from tests.families.conftest import build, train


@pytest.mark.parametrize("d_conditioning", ["concat", "projection"])
def test_the_label_changes_both_models(d_conditioning):
    family, G, D = build("cgan", f"discriminator.conditioning={d_conditioning}")
    G.eval(), D.eval()
    z = torch.randn(6, G.noise_dim, generator=torch.Generator().manual_seed(0))
    a, b = torch.full((6,), 3), torch.full((6,), 7)
    assert torch.equal(G(z, a), G(z, a))
    assert (G(z, a) - G(z, b)).abs().max() > 1e-4
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    assert (D(x, a) - D(x, b)).abs().max() > 1e-6
    # The family hands sampled labels to G: a batch drawn for class 3 differs from one for 7.
    gen = torch.Generator()
    la = family.sample_latent(6, G.noise_dim, torch.device("cpu"), gen.manual_seed(1), labels=a)
    lb = family.sample_latent(6, G.noise_dim, torch.device("cpu"), gen.manual_seed(1), labels=b)
    assert torch.equal(la.z, lb.z) and not torch.equal(family.generate(G, la), family.generate(G, lb))


@pytest.mark.parametrize("sets, message", [
    (["generator.conditioning=none"], "needs a conditional generator"),
    (["discriminator.conditioning=none"], "needs a conditional discriminator"),
])
def test_cgan_refuses_unconditional_models(sets, message):
    with pytest.raises(ConfigError, match=message):
        build("cgan", *sets)


def test_cgan_refuses_unlabelled_data(tmp_path, class_folder):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, png in enumerate(sorted(class_folder.glob("*/*.png"))[:20]):
        (flat / f"{i}.png").write_bytes(png.read_bytes())
    with pytest.raises(ConfigError, match="labelled data"):
        train(tmp_path, "run", "cgan", f"data.source={flat}", "train.steps=1")
    with pytest.raises(ConfigError, match="family 'acgan' needs labelled data"):
        build("acgan", "generator.conditioning=none", num_classes=0)


@pytest.fixture(scope="module", params=["cgan", "cgan-projection", "acgan"])
def conditional_run(request, tmp_path_factory, class_folder):
    recipe, _, variant = request.param.partition("-")
    extra = ["discriminator.conditioning=projection"] if variant else []
    out = tmp_path_factory.mktemp(request.param)
    return train(out, "run", recipe, f"data.source={class_folder}", "train.steps=2", *extra)


def test_sampling_by_class_from_the_command_line(conditional_run, tmp_path):
    arrays = {}
    for label in ("0", "1"):
        out = tmp_path / f"{label}.npz"
        assert main(["sample", str(conditional_run), "-n", "4", "--seed", "5", "--format", "npz",
                     "--labels", label, "--out", str(out)]) == 0
        arrays[label] = np.load(out)
        assert arrays[label]["labels"].tolist() == [int(label)] * 4
    assert not np.array_equal(arrays["0"]["samples"], arrays["1"]["samples"])
    grid = tmp_path / "grid.png"
    assert main(["sample", str(conditional_run), "-n", "6", "--class-grid", "--out", str(grid)]) == 0
    # 2 classes x 3 samples: 3 columns of 16 px with 2 px padding, 2 rows
    assert Image.open(grid).size == (3 * 18 + 2, 2 * 18 + 2)


class StubGenerator:
    """Draws class c as a flat image of brightness c / (K - 1), mapped to [-1, 1]."""
    conditional, num_classes = True, 4

    def latent(self, n, seed=0, labels=None):
        return Latent(torch.zeros(n, 1), torch.as_tensor(labels))

    def generate(self, latent):
        level = latent.labels.float() / (self.num_classes - 1) * 2 - 1
        return level.view(-1, 1, 1, 1).expand(-1, 1, 4, 4)


def brightness_classifier(images):
    """One-hot on the brightness level, except that it always calls class 2 'class 0'."""
    level = (images.float().mean((1, 2, 3)) / 255 * 3).round().long()
    level[level == 2] = 0
    return np.eye(4)[level.numpy()]


def test_conditional_accuracy_on_a_constructed_case():
    assert conditional_accuracy(StubGenerator(), brightness_classifier, n_per_class=5,
                                batch_size=3) == 0.75
    with pytest.raises(GanforgeError, match="expected"):
        conditional_accuracy(StubGenerator(), lambda images: np.ones((len(images), 3)), 2)


def test_conditional_accuracy_of_a_trained_run(conditional_run):
    g = api.load(conditional_run)
    assert g.conditional and g.num_classes == 2
    always_first = lambda images: torch.tensor([[0.9, 0.1]]).expand(len(images), 2)
    assert conditional_accuracy(g, always_first, n_per_class=7) == 0.5  # equal share per class


def test_the_training_grid_has_one_class_per_row(tmp_path, class_folder):
    run = train(tmp_path, "run", "cgan", f"data.source={class_folder}", "train.steps=1",
                "train.grid_size=7")
    # 7 rounded down to 2 classes x 3 samples of 16 px (2 px padding), drawn at twice the size
    assert Image.open(run / "samples" / "latest.png").size == (2 * (3 * 18 + 2), 2 * (2 * 18 + 2))


@pytest.mark.parametrize("recipe", ["cgan", "acgan"])
def test_the_label_shifts_the_mean_of_the_generators_input(recipe):
    """Regression (ACGAN drew the requested class 61% of the time): the recipes' G must get the
    label as a shift of its first layer's input. Multiplying a label embedding into a zero-mean z
    (the old `multiply` default) leaves that mean at 0 for every class, so a linear first layer
    sees the class only through the spread of its output and G learned to ignore it."""
    _, G, _ = build(recipe)
    z = torch.randn(4096, G.noise_dim, generator=torch.Generator().manual_seed(0))
    means = torch.stack([G.condition(z, torch.full((4096,), c)).mean(0) for c in range(10)])
    gaps = torch.cdist(means, means)[~torch.eye(10, dtype=torch.bool)]
    assert gaps.min() > 1.0, f"class means of G's input differ by at most {gaps.min():.3f}"
    assert G.condition(z[:2], torch.tensor([3, 7])).shape[1] == G.input_dim


def test_concat_conditioning_appends_the_one_hot_label():
    _, G, _ = build("acgan", "generator.conditioning=concat")
    z = torch.randn(3, G.noise_dim)
    x = G.condition(z, torch.tensor([0, 4, 9]))
    assert torch.equal(x[:, :G.noise_dim], z)
    assert torch.equal(x[:, G.noise_dim:].argmax(1), torch.tensor([0, 4, 9]))
    assert torch.equal(x[:, G.noise_dim:].sum(1), torch.ones(3))
    # The one-hot table is a constant (nothing to train or save) that the explore tools can blend.
    assert not any("label_embedding" in name for name, _ in G.named_parameters())
    assert "label_embedding.weight" not in G.state_dict()
    assert class_tables(G) == [G.label_embedding]
