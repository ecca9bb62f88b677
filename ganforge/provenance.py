"""What produced a run: ganforge, torch, CUDA and cuDNN versions, the device, the process count
and the git commit of ganforge's own source when it runs from a checkout. Recorded in the run's
data summary and every checkpoint's meta.json, printed by `ganforge --version`."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from .version import __version__

PACKAGE_DIR = Path(__file__).resolve().parent


def provenance(device=None, processes: int | None = None) -> dict:
    """A JSON-ready record. `device` is a torch.device or string (default: CUDA device 0 when
    available, else the CPU); `processes` defaults to torchrun's WORLD_SIZE (1 without it)."""
    device = torch.device(device) if device is not None else \
        torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "ganforge": __version__,
        "git_commit": source_commit(PACKAGE_DIR),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,          # None for a CPU build of torch
        "cudnn": cudnn,
        "device": device_name(device),
        "processes": processes if processes is not None else int(os.environ.get("WORLD_SIZE", "1")),
        "python": platform.python_version(),
    }


def device_name(device) -> str:
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device.index or 0)
    if device.type == "cpu":
        return f"cpu: {_cpu_model()}"
    return str(device)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def source_commit(package_dir: Path) -> str | None:
    """HEAD of the git checkout whose top level holds `package_dir` (with '-dirty' when tracked
    files changed); None outside a checkout, without git, or when the checkout merely encloses
    an installed copy (a virtual environment inside some other project)."""
    try:
        top = _git(package_dir, "rev-parse", "--show-toplevel")
        if top is None or Path(top).resolve() != package_dir.parent:
            return None
        commit = _git(package_dir, "rev-parse", "HEAD")
        if commit is None:
            return None
        changed = _git(package_dir, "status", "--porcelain", "--untracked-files=no")
        return commit + ("-dirty" if changed else "")
    except OSError:
        return None


def _git(where: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def version_text() -> str:
    """One line for `ganforge --version`."""
    record = provenance()
    cuda = f"CUDA {record['cuda']}, cuDNN {record['cudnn']}" if record["cuda"] else "no CUDA"
    commit = f", commit {record['git_commit']}" if record["git_commit"] else ""
    return (f"ganforge {record['ganforge']}{commit} (torch {record['torch']}, {cuda}, "
            f"{record['device']}, Python {record['python']})")
