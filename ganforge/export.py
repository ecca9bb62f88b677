"""`ganforge export RUN --format onnx|torchscript|exported-program`: a trained generator as a graph
that runs without ganforge (ONNX Runtime, libtorch, torch.export.load).

The graph takes `z` [N, z_dim] float32 (for InfoGAN, the noise followed by its codes, as
`InfoGAN.generator_input` lays them out) and, for conditional generators, `labels` [N] int64; it
returns samples in [-1, 1] ([N, C, H, W] images or [N, d] points). The batch size is dynamic.
PGGAN exports at one growth stage (default: the one it reached), since the stage decides which
blocks run. Every export is checked by running the written file and comparing it with the eager
generator; generator.json beside it describes the inputs.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import run
from .errors import ConfigError, GanforgeError
from .io import atomic_write_text

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported-program": ".pt2"}
MAX_BATCH = 65536
TOLERANCE = 1e-4  # |exported - eager| on [-1, 1] outputs, float32


class GraphGenerator(nn.Module):
    """The generator as a function of plain tensors, the growth stage fixed for PGGAN."""

    def __init__(self, G: nn.Module, stage: int | None = None, alpha: float = 1.0):
        super().__init__()
        self.G, self.stage, self.alpha = G, stage, alpha

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.stage is None:
            return self.G(z, labels)
        return self.G.synthesize(z, labels, self.stage, self.alpha)


class Unconditional(GraphGenerator):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generate(z, None)


class Conditional(GraphGenerator):
    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.generate(z, labels)


@dataclass
class Exported:
    path: Path
    description: Path
    max_difference: float | None   # None: the format's runtime is not installed to check it


def graph_of(g, stage: int | None = None) -> GraphGenerator:
    """A loaded generator (ganforge.api.LoadedGenerator) as a GraphGenerator in eval mode."""
    G = g.G.eval()
    growing = hasattr(G, "synthesize")
    if stage is not None and not growing:
        raise ConfigError(f"--stage applies to growing generators (PGGAN), not '{g.cfg.generator['name']}'")
    alpha = 1.0
    if growing:
        reached = G.current_stage
        if stage is None:
            stage, alpha = reached, G.current_alpha
        elif not 0 <= stage <= reached:
            raise ConfigError(f"--stage must be in 0..{reached} (the stages this run has trained)")
    wrapper = Conditional if g.conditional else Unconditional
    return wrapper(G, stage if growing else None, alpha).eval()


def example_inputs(g, graph: GraphGenerator, n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, g.G.z_dim, generator=gen)
    if isinstance(graph, Conditional):
        return z, torch.randint(0, g.num_classes, (n,), generator=gen)
    return (z,)


def export_generator(g, fmt: str, out: str | Path | None = None, stage: int | None = None) -> Exported:
    """Write `g`'s generator in format `fmt` (FORMATS) to `out` (default RUN/export/generator.EXT),
    with generator.json beside it, and check the written file against the eager generator."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format '{fmt}'; valid: {', '.join(FORMATS)}")
    g.G.to("cpu")
    graph = graph_of(g, stage)
    inputs = example_inputs(g, graph, 4)
    names = ["z", "labels"][:len(inputs)]
    path = Path(out) if out else run.export_dir(g.run_dir) / f"generator{FORMATS[fmt]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), _quiet():
        if fmt == "onnx":
            _write_onnx(graph, inputs, names, path)
        elif fmt == "torchscript":
            torch.jit.save(torch.jit.trace(graph, inputs), str(path))
        else:
            torch.export.save(_exported_program(graph, inputs, names), str(path))
    difference = check_export(g, graph, fmt, path)
    description = path.with_name(path.name + ".json")
    atomic_write_text(description, json.dumps(_describe(g, graph, fmt, path, names, difference), indent=2) + "\n")
    return Exported(path, description, difference)


def _dynamic_batch(names: list[str]) -> dict:
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    return {name: {0: batch} for name in names}


def _exported_program(graph, inputs, names):
    try:
        return torch.export.export(graph, inputs, dynamic_shapes=_dynamic_batch(names))
    except Exception as e:  # torch's own message is long; its first line names the cause
        raise GanforgeError(f"torch.export could not capture the generator: "
                            f"{type(e).__name__}: {str(e).strip().splitlines()[0]}") from None


def _write_onnx(graph, inputs, names, path: Path) -> None:
    for module in ("onnx", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            raise GanforgeError(f"ONNX export needs the {module} package: pip install 'ganforge[export]'") from None
    program = torch.onnx.export(graph, inputs, input_names=names, output_names=["samples"],
                                dynamic_shapes=_dynamic_batch(names), dynamo=True, verbose=False)
    program.save(str(path))


def check_export(g, graph: GraphGenerator, fmt: str, path: Path, n: int = 7) -> float | None:
    """max |exported(x) - eager(x)| on n fresh inputs (a batch size unlike the traced one), run
    from the written file; None when the format's runtime is not installed."""
    inputs = example_inputs(g, graph, n, seed=1)
    with torch.no_grad():
        eager = graph(*inputs)
        if fmt == "onnx":
            try:
                import onnxruntime
            except ImportError:
                return None
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
            got = torch.from_numpy(session.run(None, feeds)[0])
        elif fmt == "torchscript":
            got = torch.jit.load(str(path))(*inputs)
        else:
            got = torch.export.load(str(path)).module()(*inputs)
    difference = float((got.float() - eager.float()).abs().max())
    if not difference <= TOLERANCE:
        raise GanforgeError(f"the exported {fmt} generator differs from the eager one by {difference:.3g} "
                            f"(more than {TOLERANCE:g}); {path} is not usable")
    return difference


def _describe(g, graph, fmt, path, names, difference) -> dict:
    z_dim = int(g.G.z_dim)
    inputs = {"z": {"shape": ["N", z_dim], "dtype": "float32",
                    "distribution": "standard normal" if z_dim == g.G.noise_dim else
                    f"standard normal in the first {g.G.noise_dim} entries, then the family's codes"}}
    if "labels" in names:
        inputs["labels"] = {"shape": ["N"], "dtype": "int64", "range": [0, g.num_classes - 1]}
    shape = list(g.data_shape)
    if graph.stage is not None:
        side = 4 * 2 ** graph.stage
        shape = [shape[0], side, side]
    return {"format": fmt, "file": path.name, "inputs": inputs,
            "output": {"name": "samples", "shape": ["N", *shape], "nominal_range": [-1, 1]},
            "generator": g.cfg.generator["name"], "family": g.cfg.family["name"], "step": g.step,
            "stage": graph.stage, "alpha": graph.alpha if graph.stage is not None else None,
            "max_difference_from_eager": difference}


@contextlib.contextmanager
def _quiet():
    """torch's exporters narrate each pass and warn about their own deprecations; a user sees
    only our one line per export."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
