"""Where and how a run computes: device, precision, threads, compilation, and the distributed
process group with its gradient averaging (DistributedDataParallel when launched by torchrun)."""
from __future__ import annotations

import contextlib
import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names of the bf16 instructions
AMX_CPU_FLAG = "amx_bf16"  # the one of them that makes bf16 faster than fp32 here (fast_bf16)


@dataclass
class Runtime:
    device: torch.device
    precision: str
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self):
        """Mixed precision for forward passes; fp32 is a no-op context."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none."""
        return torch.amp.GradScaler(self.device.type) if self.precision == "fp16" else None

    # ---- collectives (no-ops in a single process)
    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast_object(self, obj):
        """Rank 0's `obj` on every rank."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather_objects(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


def launched_world_size() -> int:
    """Processes in this job as torchrun announces them (1 when run directly)."""
    return int(os.environ.get("WORLD_SIZE", 1))


# ---------------------------------------------------------------- what the hardware does fast

def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast is faster than fp32 on `device`: Ampere or later GPUs; on a CPU, only
    with AMX tiles that torch uses. avx512_bf16 alone multiplies bf16 in hardware, but training
    steps in bf16 there ran at 0.76-0.87x of fp32 (dcgan, pggan-mnist, began; an AMX Xeon with
    oneDNN capped by ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16, benchmarks/RESULTS.md), and with
    neither torch converts bf16 through a path many times slower than fp32 (15x on an AVX2
    EPYC, issue 17). Limiting ATen (ATEN_CPU_CAPABILITY) or oneDNN (ONEDNN_MAX_CPU_ISA) below
    AMX turns it off."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if AMX_CPU_FLAG not in cpu_flags() or not _onednn_may_use_amx():
        return False
    if not torch.backends.cpu.get_cpu_capability().startswith("AVX512"):
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def _onednn_may_use_amx() -> bool:
    """False when ONEDNN_MAX_CPU_ISA (or its old name DNNL_MAX_CPU_ISA) caps oneDNN below AMX."""
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    return cap in ("ALL", "DEFAULT") or "AMX" in cap


def choose_precision(requested: str, bf16_is_fast: bool) -> str:
    """train.precision=auto: bf16 autocast where it beats fp32 on the device (fast_bf16), else
    fp32 (there the fastest path is fp32 in the channels-last layout; see fastest_layout)."""
    if requested != "auto":
        return requested
    return "bf16" if bf16_is_fast else "fp32"


def fastest_layout(requested_channels_last: bool, precision: str) -> bool:
    """Whether image models run in the channels-last layout: as configured, and always under
    train.precision=auto. On the CPUs measured it was faster for the dcgan-, pggan- and
    biggan-shaped networks and about as fast (0.89-1.00x) for began's
    (benchmarks/RESULTS.md); nothing has been measured on a GPU yet."""
    return requested_channels_last or precision == "auto"


def resolve_runtime(device: str, precision: str, threads: int = 0) -> Runtime:
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    rank = int(os.environ.get("RANK", 0))
    world = launched_world_size()
    local = int(os.environ.get("LOCAL_RANK", 0))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"train.device must be auto, cpu or cuda, got '{device}'")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available")
    if precision == "fp16" and device != "cuda":
        raise ConfigError("fp16 needs CUDA (use bf16 on the CPU)")
    dev = torch.device("cuda", local) if device == "cuda" else torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if threads > 0:
        torch.set_num_threads(threads)
    if world > 1 and not dist.is_initialized():
        # Launched by torchrun: it provides MASTER_ADDR/PORT, RANK and WORLD_SIZE.
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Runtime(dev, choose_precision(precision, fast_bf16(dev)), rank, world, local)


# ---------------------------------------------------------------- gradient averaging

class _Phase(nn.Module):
    """The parameters one optimiser updates. Its forward runs a whole loss computation, so each
    optimiser step is exactly one DDP forward followed by one backward."""

    def __init__(self, params: list[nn.Parameter]):
        super().__init__()
        self.params = nn.ParameterList(params)  # the same Parameter objects, not copies

    def forward(self, run):
        return run()


class GradientSync:
    """Averages one optimiser's gradients across ranks with DistributedDataParallel.

    DDP expects one forward per backward and all-reduces a parameter's gradient when autograd
    accumulates it. A GAN step does not look like that: D runs on reals, then on fakes, then on
    interpolates inside a gradient penalty (a double backward), families call D's `features`,
    `logit` and heads directly, and some parameters are used by one phase only (a head only G's
    loss needs, layers a growing schedule has not reached). So the DDP-wrapped module here is not
    G or D but a phase: the parameters of one optimiser, whose forward is the family's whole loss
    computation for that step. However many times the loss calls G or D, DDP sees one forward;
    `find_unused_parameters` finds the parameters that loss did not reach (their gradients stay
    None, as in a single process); the all-reduce of each gradient bucket overlaps the rest of
    the backward. A phase holds no buffers, so DDP broadcasts none: BatchNorm statistics stay per
    rank (train.sync_bn synchronises them) and rank 0's are the ones checkpointed. A single
    process skips the wrapper entirely.
    """

    def __init__(self, params: list[nn.Parameter], rt: Runtime):
        self.params = list(params)
        self.ddp = None
        if rt.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(
                _Phase(self.params),
                device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
                find_unused_parameters=True,  # heads or layers a phase's loss does not reach
            )

    def __call__(self, compute, *args):
        """Run compute(*args) (returning (loss, stats)) as this phase's forward."""
        if self.ddp is None:
            return compute(*args)
        return self.ddp(functools.partial(compute, *args))  # no tensors for DDP to move

    def micro_batch(self, last: bool):
        """Gradient accumulation: only the last micro-batch's backward all-reduces."""
        return self.ddp.no_sync() if self.ddp is not None and not last else contextlib.nullcontext()

    def covers(self, params: list[nn.Parameter]) -> bool:
        return [id(p) for p in params] == [id(p) for p in self.params]


# ---------------------------------------------------------------- synchronised BatchNorm

_PLAIN_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def sync_batchnorms(module: nn.Module) -> nn.Module:
    """train.sync_bn: every plain BatchNorm (exactly torch's classes) becomes a SyncBatchNorm with
    the same parameters and statistics. Any other module keeps its class and has its children
    converted: BigGAN's conditional BatchNorm stays callable as bn(x, cond) and its inner plain
    BatchNorm is synchronised. Returns the module, or its replacement when it is itself one."""
    if type(module) in _PLAIN_BATCHNORMS:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        converted = sync_batchnorms(child)
        if converted is not child:
            module.add_module(name, converted)
    return module


# ---------------------------------------------------------------- torch.compile

def compile_modules(modules: list[nn.Module], device: torch.device) -> bool:
    """torch.compile each module in place (attributes and state_dict keys stay as they are).
    When compilation cannot work here (no C compiler, an inductor error) warn in one line and run
    eagerly; a later failure on one model's graph falls back to eager for that graph."""
    reason = compile_failure(device)
    if reason is not None:
        warnings.warn(f"torch.compile is unavailable ({reason}); training continues without it",
                      stacklevel=2)
        return False
    import torch._dynamo
    torch._dynamo.config.suppress_errors = True  # a graph inductor cannot compile runs eagerly
    for module in modules:
        module.compile()
    return True


def compile_failure(device: torch.device) -> str | None:
    """Compile and run a tiny function with its backward; the first line of the error, if any."""
    try:
        probe = torch.compile(lambda x: torch.tanh(x * 2.0 + 1.0).sum())
        x = torch.ones(8, device=device, requires_grad=True)
        probe(x).backward()
    except Exception as error:  # any backend failure means "cannot compile here"
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0] if text else ''}".strip().rstrip(":")
    return None
