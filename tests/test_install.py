"""Installing ganforge where torch is already installed (a user's CUDA build, say) keeps that
torch exactly: same version, same files. Offline: pip resolves against what is installed
(--no-index) and builds without isolation, so nothing is downloaded."""
import importlib.metadata
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _torch_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return next(Requirement(line) for line in project["dependencies"] if Requirement(line).name == "torch")


@pytest.mark.parametrize("version", ["2.3.0", "2.5.1+cpu", "2.9.1", "2.13.0", "2.14.1+cu128", "3.0.0"])
def test_the_torch_requirement_is_a_range_that_admits_users_builds(version):
    assert _torch_requirement().specifier.contains(version), version


def _torch_files() -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file torch's RECORD lists: any reinstall or upgrade changes them."""
    dist = importlib.metadata.distribution("torch")
    stats = {}
    for file in dist.files:
        path = Path(dist.locate_file(file))
        stat = path.stat() if path.exists() else None
        stats[str(file)] = (stat.st_size, stat.st_mtime_ns) if stat else (-1, -1)
    return stats


def test_editable_install_beside_an_installed_torch_leaves_it_untouched(tmp_path):
    pytest.importorskip("setuptools", reason="the offline build (no isolation) uses the installed setuptools")
    torch_version = importlib.metadata.version("torch")
    before = _torch_files()
    # A copy of the project, so pip's build files never land in the checkout.
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "ganforge", project / "ganforge", ignore=shutil.ignore_patterns("__pycache__"))
    # A new environment that sees this one's packages (torch among them) as already installed.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    child_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                check=True, capture_output=True, text=True).stdout.strip()
    Path(child_site, "outer-environment.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}  # the venv's own view
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    result = subprocess.run(
        [python, "-m", "pip", "install", "--no-index", "--no-build-isolation", "-e", str(project)],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch" not in _installed_line(result.stdout), result.stdout
    check = subprocess.run([python, "-c", "import torch, ganforge; print(torch.__version__); print(ganforge.__file__)"],
                           check=True, capture_output=True, text=True, env=env, cwd=tmp_path).stdout.split()
    assert check[0] == torch_version and Path(check[1]).is_relative_to(project)
    assert importlib.metadata.version("torch") == torch_version
    assert _torch_files() == before


def _installed_line(output: str) -> str:
    return next((line for line in output.splitlines() if line.startswith("Successfully installed")), "")
