"""Collectives that code outside the trainer needs under torchrun, and that are no-ops in a
single process."""
from __future__ import annotations

import torch
import torch.distributed as dist


def mean_over_processes(value: torch.Tensor) -> torch.Tensor:
    """The mean of `value` over the processes of a torchrun job (itself in a single process):
    for logged statistics, and for statistics a family decides from, so every process decides alike."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    world = dist.get_world_size()
    if world == 1:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / world
