"""Training throughput: ganforge's trainer against the straightforward DCGAN loop, at equal quality.

Both train the canonical DCGAN-64 (recipe dcgan-64: Radford et al.'s layer table, widths 64, nz 100,
batch 64, Adam 2e-4 (0.5, 0.999)) on the bundled MNIST digits at 64x64, from the same initial
weights, in one process, alternating short segments so that both see the same machine load:

  (a) the straightforward loop, written out below as the PyTorch DCGAN tutorial writes it: a
      DataLoader over a TensorDataset of float images, fp32, sigmoid + BCELoss, separate backward
      passes for the real and the fake batch, the fakes of the D step reused (detached there) for
      the G step, and `.item()` on the losses and D outputs every step;
  (b) ganforge's Trainer with the fastest settings for this machine (bf16 autocast where the CPU or
      GPU computes bf16 natively, channels-last layout), unless --ganforge-set says otherwise.

It prints images/s of both (median over segments, the first of each left out as warm-up), their
ratio, the achieved GFLOP/s (FLOPs of one training iteration counted by FlopCounterMode) against
the measured matmul peak, and the classifier-FID of both after the same number of steps, so a
speed-up never hides a quality loss. The last thing printed is a markdown block for
benchmarks/RESULTS.md.

    python benchmarks/throughput.py [--steps 500] [--segment 25] [--fid-samples 2000]
        [--classifier DIR] [--threads N] [--device cpu] [--ganforge-set train.precision=fp32 ...]

A CPU without bf16 units (an AVX2-only one) can be emulated on one with them by limiting the
instruction sets torch uses; the machine line then names the limits:

    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
        python benchmarks/throughput.py --steps 100 --segment 10
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from ganforge.config import resolve
from ganforge.images import grid_image, save_png, to_uint8
from ganforge.metrics import fid_from_features, get_extractor, save_classifier, train_classifier
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator
from ganforge.training.logbook import StatsAccumulator
from ganforge.training.runtime import BF16_CPU_FLAGS, choose_precision, cpu_flags, fastest_layout, fast_bf16
from ganforge.training.trainer import Trainer

RECIPE = "dcgan-64"
DEFAULT_CLASSIFIER = Path("runs/benchmarks/classifier-mnist")


# ---------------------------------------------------------------- (a) the tutorial's loop

class TutorialLoop:
    """The PyTorch DCGAN tutorial's training loop, step by step, on the same architecture."""

    def __init__(self, images: torch.Tensor, seed: int, device: torch.device, nz: int = 100,
                 width: int = 64, batch_size: int = 64):
        torch.manual_seed(seed)  # ganforge seeds the same way before building G, then D
        shape = tuple(images.shape[1:])
        self.netG = DCGANGenerator(shape, z_dim=nz, width=width).to(device)
        self.netD = DCGANDiscriminator(shape, width=width).to(device)
        self.device, self.nz = device, nz
        dataset = TensorDataset(images.float() / 127.5 - 1.0)
        self.dataloader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0,
                                     generator=torch.Generator().manual_seed(seed))
        self.criterion = nn.BCELoss()
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.real_label, self.fake_label = 1.0, 0.0
        self.G_losses, self.D_losses, self.iters = [], [], 0
        self._data = self._forever()

    def _forever(self):
        while True:  # for epoch in range(num_epochs): for i, data in enumerate(dataloader)
            yield from self.dataloader

    def D(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.netD(x))  # the tutorial's D ends in nn.Sigmoid

    def step(self) -> int:
        """One iteration of the tutorial's inner loop; returns the images it used."""
        data = next(self._data)
        netD, netG, criterion = self.netD, self.netG, self.criterion
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        netD.zero_grad()
        real_cpu = data[0].to(self.device)
        b_size = real_cpu.size(0)
        label = torch.full((b_size,), self.real_label, dtype=torch.float, device=self.device)
        output = self.D(real_cpu).view(-1)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()
        noise = torch.randn(b_size, self.nz, 1, 1, device=self.device)
        fake = netG(noise)
        label.fill_(self.fake_label)
        output = self.D(fake.detach()).view(-1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        # (2) Update G: maximize log(D(G(z)))
        netG.zero_grad()
        label.fill_(self.real_label)
        output = self.D(fake).view(-1)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        self.optimizerG.step()
        self.last = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)
        self.G_losses.append(errG.item())
        self.D_losses.append(errD.item())
        self.iters += 1
        return b_size


# ---------------------------------------------------------------- (b) ganforge

def fastest_settings(device: torch.device) -> list[str]:
    """What train.precision=auto picks, spelled out: bf16 autocast where it beats fp32 (AMX on a
    CPU, Ampere or later GPUs; else fp32), channels-last for the convs."""
    precision = choose_precision("auto", fast_bf16(device))
    return [f"train.channels_last={str(fastest_layout(False, 'auto')).lower()}", f"train.precision={precision}"]


def ganforge_trainer(out: Path, steps: int, seed: int, device: torch.device, sets: list[str]) -> Trainer:
    cfg = resolve(RECIPE, [f"train.steps={steps}", f"train.seed={seed}", f"train.device={device.type}",
                           "train.progress=false", f"train.log_every={steps}",
                           f"train.sample_every={steps}", f"train.ckpt_every={steps}", *sets])
    out.mkdir(parents=True, exist_ok=True)
    return Trainer(cfg, out)


# ---------------------------------------------------------------- measuring

# Environment variables that limit the instruction sets torch uses: set, they emulate an older
# CPU (e.g. an AVX2-only one on an AMX machine), and every figure must say so.
ISA_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def isa_limits_set() -> list[str]:
    """The ISA_LIMITS set in this process, as KEY=VALUE (empty on the real CPU)."""
    return [f"{k}={os.environ[k]}" for k in ISA_LIMITS if os.environ.get(k)]


def machine(device: torch.device) -> dict:
    name = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    if device.type == "cuda":
        name = f"{torch.cuda.get_device_name(device)} (host: {name})"
    flags = cpu_flags()
    bf16 = ", ".join(f for f in BF16_CPU_FLAGS if f in flags) or "none"
    if bf16 != "none" and not fast_bf16(torch.device("cpu")):
        bf16 += " (auto keeps fp32 here: no AMX that torch uses)"
    limits = isa_limits_set()
    if limits:
        name += f", EMULATING AN OLDER CPU: {' '.join(limits)}"
    return {"name": name, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "date": datetime.date.today().isoformat(), "bf16": bf16}


def percent(part: float, whole: float | None) -> str:
    return "n/a (no AMX)" if whole is None else f"{100 * part / whole:.0f}%"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 2048, repeats: int = 6) -> float:
    """GFLOP/s of the fastest of several n x n matmuls (2 n^3 FLOPs each)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def flops_per_iteration(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def timed(run, device: torch.device) -> tuple[float, float, int]:
    """(wall seconds, process CPU seconds, images) of run()."""
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    images = run()
    sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu, images


# ---------------------------------------------------------------- quality

def classifier_path(given: str | None) -> Path:
    if given:
        return Path(given)
    path = DEFAULT_CLASSIFIER
    if not (path / "classifier.json").is_file():
        from ganforge.data import load_dataset
        print(f"training the MNIST classifier for FID features (once; cached in {path}) ...", flush=True)
        model, accuracy = train_classifier(load_dataset("mnist", image_size=28))
        save_classifier(model, {"held_out_accuracy": accuracy, "dataset": "mnist-5k (bundled)"}, path)
    return path


@torch.inference_mode()
def samples(G: nn.Module, n: int, nz: int, seed: int, device: torch.device) -> torch.Tensor:
    """n uint8 samples in eval mode (BatchNorm running statistics), fp32, the same z for both."""
    was_training = G.training
    G.eval()
    z = torch.randn(n, nz, generator=torch.Generator().manual_seed(seed)).to(device)
    out = torch.cat([to_uint8(G(chunk)) for chunk in z.split(250)])
    G.train(was_training)
    return out


# ---------------------------------------------------------------- the benchmark

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=500, help="training steps of each loop")
    p.add_argument("--segment", type=int, default=25, help="steps per timed segment")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fid-samples", type=int, default=2000)
    p.add_argument("--classifier", help="classifier directory (default: train one, cached in "
                                        f"{DEFAULT_CLASSIFIER})")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--ganforge-set", action="append", default=None, metavar="SECTION.KEY=VALUE",
                   help="ganforge settings instead of the fastest ones for this machine")
    p.add_argument("--no-fid", action="store_true", help="speed only (for comparing settings)")
    args = p.parse_args()
    if args.steps % args.segment or args.steps < 2 * args.segment:
        p.error("--steps must be a multiple of --segment and at least two segments")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    info = machine(device)
    fast = args.ganforge_set if args.ganforge_set is not None else fastest_settings(device)
    print(f"machine: {info['name']}, {info['cores']} cores, {info['threads']} torch threads, "
          f"bf16 instructions: {info['bf16']}, torch {info['torch']}")
    print(f"ganforge settings: {' '.join(fast)}", flush=True)

    peak32 = matmul_peak(torch.float32, device)
    # Without AMX torch's bf16 is no faster than fp32, and without any bf16 units many times
    # slower (a smaller matrix keeps that measurement short): no bf16 peak to be a percentage of.
    units16 = fast_bf16(device)
    measured16 = matmul_peak(torch.bfloat16, device, n=2048 if units16 else 512)
    peak16 = measured16 if units16 and measured16 > peak32 else None
    bf16_note = "" if peak16 else " (no AMX: not a bf16 peak)"
    print(f"matmul peak: fp32 {peak32:.0f} GFLOP/s, bf16 {measured16:.3g} GFLOP/s{bf16_note}", flush=True)

    scratch = Path(tempfile.mkdtemp(prefix="ganforge-throughput-"))
    # FLOPs of one iteration each, on throwaway copies (before the measured runs are seeded).
    probe = ganforge_trainer(scratch / "probe", args.steps, args.seed, device, fast)
    flops_b = flops_per_iteration(lambda: probe._train_step(StatsAccumulator()))
    images = probe.dataset.images
    flops_a = flops_per_iteration(TutorialLoop(images, args.seed, device).step)
    del probe

    trainer = ganforge_trainer(scratch / "ganforge", args.steps, args.seed, device, fast)
    tutorial = TutorialLoop(images, args.seed, device)
    same_start = all(torch.equal(a, b)
                     for mine, theirs in ((tutorial.netG, trainer.G), (tutorial.netD, trainer.D))
                     for a, b in zip(mine.state_dict().values(), theirs.state_dict().values()))
    print(f"FLOPs per iteration: straightforward {flops_a / 1e9:.1f} G, ganforge {flops_b / 1e9:.1f} G; "
          f"same initial weights: {same_start}", flush=True)

    def run_a():
        return sum(tutorial.step() for _ in range(args.segment))

    def run_b():
        trainer.train(until=trainer.step + args.segment)
        return args.segment * trainer.batches.batch_size

    times = {"a": [], "b": []}
    for k in range(args.steps // args.segment):
        order = (("a", run_a), ("b", run_b)) if k % 2 == 0 else (("b", run_b), ("a", run_a))
        for key, run in order:
            times[key].append(timed(run, device))
        a, b = times["a"][-1], times["b"][-1]
        print(f"segment {k + 1:3d}: straightforward {a[2] / a[0]:6.1f} img/s, "
              f"ganforge {b[2] / b[0]:6.1f} img/s", flush=True)

    def median(key, index):  # images per wall (0) or CPU (1) second, warm-up segment left out
        return statistics.median(t[2] / t[index] for t in times[key][1:])

    wall_a, wall_b, cpu_a, cpu_b = median("a", 0), median("b", 0), median("a", 1), median("b", 1)
    gflops_a, gflops_b = flops_a / 64 * wall_a / 1e9, flops_b / 64 * wall_b / 1e9

    n = args.fid_samples
    fid_a = fid_b = fid_real = float("nan")
    extractor_name = "not computed (--no-fid)"
    if not args.no_fid:
        extractor = get_extractor(f"classifier:{classifier_path(args.classifier)}")
        extractor_name = extractor.name
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(args.seed + 1))
        real_a, _ = extractor.extract(images[order[:n]])
        if 2 * n <= len(images):
            fid_real = fid_from_features(real_a, extractor.extract(images[order[n:2 * n]])[0])
        fakes_a = samples(tutorial.netG, n, 100, args.seed, device)
        fakes_b = samples(trainer.G, n, 100, args.seed, device)
        fid_a = fid_from_features(real_a, extractor.extract(fakes_a)[0])
        fid_b = fid_from_features(real_a, extractor.extract(fakes_b)[0])
        for name, fakes in (("straightforward", fakes_a), ("ganforge", fakes_b)):
            save_png(grid_image(fakes[:64]), scratch / f"samples-{name}.png")
        print(f"sample grids: {scratch}/samples-straightforward.png, {scratch}/samples-ganforge.png")

    ratio = wall_b / wall_a
    print()
    print(f"straightforward loop: {wall_a:7.1f} img/s ({cpu_a:.1f} img per CPU-second), "
          f"{gflops_a:6.1f} GFLOP/s = {100 * gflops_a / peak32:.0f}% of the fp32 matmul peak, "
          f"FID {fid_a:.2f}")
    print(f"ganforge trainer:     {wall_b:7.1f} img/s ({cpu_b:.1f} img per CPU-second), "
          f"{gflops_b:6.1f} GFLOP/s = {100 * gflops_b / peak32:.0f}% of the fp32 matmul peak "
          f"and {percent(gflops_b, peak16)} of the bf16 one, FID {fid_b:.2f}")
    print(f"speed-up: {ratio:.2f}x (wall clock), {cpu_b / cpu_a:.2f}x (CPU time); FID after "
          f"{args.steps} steps: {fid_a:.2f} vs {fid_b:.2f} (real vs real: {fid_real:.2f}; "
          f"{n} samples; {extractor_name})")

    command = "python benchmarks/throughput.py " + shlex.join(sys.argv[1:])
    settings = " ".join(s.removeprefix("train.") for s in fast)
    segments = len(times["a"]) - 1
    print(f"""
### DCGAN-64 training throughput (`benchmarks/throughput.py`)

Machine: {info['name']}, {info['cores']} cores ({info['threads']} torch threads), bf16 instructions: {info['bf16']}; torch {info['torch']}; {info['date']}.
Command: `{command.strip()}`

| loop | img/s | img per CPU-s | GFLOP/s | % of matmul peak: fp32 / bf16 | classifier-FID after {args.steps} steps |
|---|---:|---:|---:|---:|---:|
| straightforward (PyTorch DCGAN tutorial loop, fp32) | {wall_a:.1f} | {cpu_a:.1f} | {gflops_a:.1f} | {100 * gflops_a / peak32:.0f}% / {percent(gflops_a, peak16)} | {fid_a:.2f} |
| ganforge Trainer ({settings}) | {wall_b:.1f} | {cpu_b:.1f} | {gflops_b:.1f} | {100 * gflops_b / peak32:.0f}% / {percent(gflops_b, peak16)} | {fid_b:.2f} |

Speed-up {ratio:.2f}x. Medians over {segments} interleaved segments of {args.segment} steps (batch 64; the first segment of each is warm-up and left out).
Matmul peak measured here: fp32 {peak32:.0f} GFLOP/s, bf16 {measured16:.3g} GFLOP/s{bf16_note}. FLOPs per iteration (FlopCounterMode): {flops_a / 1e9:.1f} G and {flops_b / 1e9:.1f} G.
FID: {n} samples (G in eval mode, the same latents for both) against {n} real digits, features of {extractor_name}; real against other real digits: {fid_real:.2f}.""")


if __name__ == "__main__":
    main()
