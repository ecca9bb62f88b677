"""Where and how a run computes: device, precision, threads and the distributed process group."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")


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


def resolve_runtime(device: str, precision: str, threads: int = 0) -> Runtime:
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
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
    return Runtime(dev, precision, rank, world, local)
