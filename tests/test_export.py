"""Export of every generator kind, each checked by running the written file (ONNX Runtime,
torch.jit.load, torch.export.load) against the eager generator on the same inputs."""
import json

import pytest
import torch

from ganforge import api
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.export import FORMATS, export_generator
from tests.biggan.test_training import TINY_MNIST
from tests.conftest import TINY_DCGAN
from tests.pggan.test_training import TINY as TINY_PGGAN

# Generator kinds: plain and conditional DCGAN, InfoGAN's code-carrying input, BEGAN's decoder,
# the MLP on 2-D points, BigGAN (conditional, attention, BatchNorm) and PGGAN mid-growth.
RUNS = {
    "dcgan": ("dcgan", TINY_DCGAN + ["train.steps=2"]),
    "cgan": ("cgan", TINY_DCGAN + ["train.steps=2"]),
    "infogan": ("infogan", TINY_DCGAN + ["train.steps=2"]),
    "began": ("began", TINY_DCGAN + ["train.steps=2", "discriminator.hidden=8"]),
    "mlp": ("gan-2d", ["train.steps=2", "train.progress=false", "generator.width=16",
                       "discriminator.width=16", "data.toy_samples=500"]),
    "biggan": ("biggan-mnist", TINY_MNIST + ["train.steps=2"]),
    "pggan": ("pggan-mnist", TINY_PGGAN + ["train.steps=6", "train.ckpt_every=6"]),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export-runs")
    return {name: api.train(resolve(recipe, sets), out=root / name) for name, (recipe, sets) in RUNS.items()}


def _inputs(g, n=5, seed=3):
    """The exported graph's inputs for n samples drawn as ganforge samples them, and the eager
    samples: G's full input (InfoGAN: noise then codes) and labels for conditional generators."""
    latent = g.latent(n, seed=seed, labels=torch.arange(n) % g.num_classes if g.conditional else None)
    z = g.family.generator_input(latent) if hasattr(g.family, "generator_input") else latent.z
    return ((z, latent.labels) if g.conditional else (z,)), g.generate(latent)


def _run_exported(fmt, path, inputs):
    if fmt == "onnx":
        ort = pytest.importorskip("onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return torch.from_numpy(session.run(None, {k: x.numpy() for k, x in zip(names, inputs)})[0])
    if fmt == "torchscript":
        return torch.jit.load(str(path))(*inputs)
    return torch.export.load(str(path)).module()(*inputs)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", list(RUNS))
def test_every_generator_exports_and_matches_eager(runs, tmp_path, name, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxscript", reason="ONNX export needs the export extra")
    g = api.load(runs[name])
    done = export_generator(g, fmt, out=tmp_path / f"g{FORMATS[fmt]}")
    inputs, eager = _inputs(g)
    got = _run_exported(fmt, done.path, inputs)
    assert got.shape == eager.shape
    assert (got - eager).abs().max() < 1e-4
    info = json.loads(done.description.read_text())
    assert list(info["inputs"]) == (["z", "labels"] if g.conditional else ["z"])
    assert info["inputs"]["z"]["shape"] == ["N", g.G.z_dim]
    assert info["max_difference_from_eager"] == done.max_difference < 1e-4


def test_pggan_exports_any_trained_stage(runs, tmp_path):
    g = api.load(runs["pggan"])
    assert g.G.current_stage == 1 and 0 < g.G.current_alpha < 1  # mid fade-in of 8x8
    done = export_generator(g, "exported-program", out=tmp_path / "s0.pt2", stage=0)
    (z,), _ = _inputs(g)
    got = torch.export.load(str(done.path)).module()(z)
    with torch.no_grad():
        assert torch.equal(got, g.G.synthesize(z, None, 0, 1.0))
    assert got.shape[-1] == 4 and json.loads(done.description.read_text())["stage"] == 0
    with pytest.raises(ConfigError, match=r"--stage must be in 0\.\.1"):
        export_generator(g, "exported-program", out=tmp_path / "s2.pt2", stage=2)


def test_cli_export_writes_into_the_run(runs, capsys):
    assert main(["export", str(runs["dcgan"]), "--format", "torchscript"]) == 0
    out = capsys.readouterr().out
    assert "checked: max |exported - eager|" in out
    assert (runs["dcgan"] / "export" / "generator.torchscript.pt").is_file()
    assert main(["export", str(runs["dcgan"]), "--format", "torchscript", "--stage", "1"]) == 2
    assert "--stage applies to growing generators" in capsys.readouterr().err
