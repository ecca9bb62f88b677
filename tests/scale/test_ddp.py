"""DistributedDataParallel through torchrun: 2 CPU processes (gloo) on a tiny DCGAN.

Each rank writes what it saw (GANFORGE_DEBUG_RANK_DUMP: a hash of its weights and the dataset
indices it consumed), so the checks look at every process, not only at what rank 0 saved."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ganforge.run import checkpoints_dir
from ganforge.training import checkpoint as ckpt
from tests.conftest import TINY_DCGAN

ROOT = Path(__file__).resolve().parents[2]
STEPS, BATCH, RANKS = 4, 16, 2


def torchrun(args: list[str], cwd: Path, dump: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("GANFORGE_DEBUG_RANK_DUMP", None)
    if dump is not None:
        env["GANFORGE_DEBUG_RANK_DUMP"] = str(dump)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(RANKS),
           "--standalone", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def dumps(folder: Path) -> list[dict]:
    return [json.loads((folder / f"rank-{r}.json").read_text()) for r in range(RANKS)]


def weights(run: Path, step: int) -> dict:
    return load_file(str(checkpoints_dir(run) / f"step-{step:08d}" / ckpt.WEIGHTS))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """Trained with `torchrun -m ganforge train`, run directory auto-numbered by rank 0."""
    tmp = tmp_path_factory.mktemp("ddp")
    sets = [a for s in TINY_DCGAN + [f"train.steps={STEPS}", "train.ckpt_every=2", "train.keep_ckpts=5"]
            for a in ("--set", s)]
    done = torchrun(["-m", "ganforge", "train", "--recipe", "dcgan", "--runs", "runs", *sets], tmp,
                    dump=tmp / "dump")
    return tmp, done


def test_ranks_share_one_run_dir_and_only_rank_0_writes(ddp_run):
    tmp, done = ddp_run
    assert [p.name for p in (tmp / "runs").iterdir()] == ["dcgan-001"]
    assert done.stdout.count("run directory: runs/dcgan-001") == 1
    run = tmp / "runs" / "dcgan-001"
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]  # one line per logging step, not one per rank
    assert log[-1]["images_seen"] == STEPS * BATCH * RANKS
    assert [p.name for p in ckpt.checkpoint_dirs(run)] == ["step-00000002", "step-00000004"]
    assert json.loads((run / "data.json").read_text())["processes"] == RANKS


def test_ranks_keep_identical_weights_and_see_disjoint_data(ddp_run):
    tmp, _ = ddp_run
    ranks = dumps(tmp / "dump")
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world_size"] == RANKS for r in ranks)
    assert ranks[0]["params_sha256"] == ranks[1]["params_sha256"]
    # BatchNorm statistics are per rank without train.sync_bn: their batches differ.
    assert ranks[0]["buffers_sha256"] != ranks[1]["buffers_sha256"]
    a, b = (r["indices"] for r in ranks)
    assert len(a) == len(b) == STEPS * BATCH
    assert len(set(a)) == len(a) and len(set(b)) == len(b)  # one epoch: no repeats
    assert not set(a) & set(b)
    saved = weights(tmp / "runs" / "dcgan-001", STEPS)
    assert not torch.equal(saved["G.net.0.weight"], weights(tmp / "runs" / "dcgan-001", 2)["G.net.0.weight"])


def test_resume_under_torchrun_is_bitwise_exact(ddp_run):
    tmp, _ = ddp_run
    straight = tmp / "runs" / "dcgan-001"
    resumed = tmp / "resumed"
    shutil.copytree(straight, resumed)
    shutil.rmtree(checkpoints_dir(resumed) / f"step-{STEPS:08d}")  # "interrupted" after step 2
    torchrun(["-m", "ganforge", "train", "--resume", str(resumed)], tmp, dump=tmp / "dump2")
    a, b = weights(straight, STEPS), weights(resumed, STEPS)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    before, after = dumps(tmp / "dump"), dumps(tmp / "dump2")
    for rank in range(RANKS):  # each rank continued its own shard and noise
        assert after[rank]["start_step"] == 2 and after[rank]["step"] == STEPS
        assert after[rank]["indices"] == before[rank]["indices"][2 * BATCH:]
        assert after[rank]["params_sha256"] == before[rank]["params_sha256"]


def test_every_family_averages_gradients_across_ranks(tmp_path):
    torchrun([str(ROOT / "tests" / "scale" / "ddp_check.py"), str(tmp_path)], tmp_path)
    ranks = dumps(tmp_path)
    for r in ranks:
        grads = r["gradients"]
        # Several D calls, heads called directly, a gradient penalty and two accumulated
        # micro-batches: the synchronised gradient is the mean of the ranks' own.
        assert grads["local_differs"] and grads["grad_max_rel_error"] <= 1e-6
        assert grads["unused_grad_is_none"]
        assert r["sync_bn_error"] == ("train.sync_bn needs CUDA devices: torch's SyncBatchNorm "
                                      "does not run on the CPU")
        assert r["disagreement_error"].startswith("at step 2 the processes' weights differ")
    assert sorted(ranks[0]["families"]) == sorted(ranks[1]["families"])
    for recipe, mine in ranks[0]["families"].items():
        assert mine["moved"], recipe
        assert mine["weights"] == ranks[1]["families"][recipe]["weights"], recipe
    # BEGAN's k_t follows the balance of all ranks' batches, not each rank's own.
    k = [r["families"]["began"]["family_state"]["k"] for r in ranks]
    assert k[0] > 0 and k[0] == k[1]
