"""Two torchrun processes (gloo, CPU) training from a stylegan2-ada zip streamed through
DataLoader workers: each rank reads only its own disjoint shard, weights stay identical."""
import json

from tests.conftest import TINY_DCGAN
from tests.data.containers import encoded_images, write_stylegan_zip
from tests.scale.test_ddp import RANKS, dumps, torchrun

STEPS, BATCH = 2, 16


def test_two_ranks_stream_a_zip_in_disjoint_shards(tmp_path):
    count = 80  # enough for STEPS batches on each rank within one epoch
    write_stylegan_zip(tmp_path / "data.zip", encoded_images(count, size=16), [i % 4 for i in range(count)])
    sets = TINY_DCGAN + [f"train.steps={STEPS}", "train.ckpt_every=2", f"data.source={tmp_path / 'data.zip'}",
                         "data.in_memory=false", "data.workers=1"]
    torchrun(["-m", "ganforge", "train", "--recipe", "dcgan", "--out", "run",
              *[a for s in sets for a in ("--set", s)]], tmp_path, dump=tmp_path / "dump")
    summary = json.loads((tmp_path / "run" / "data.json").read_text())
    assert summary["streamed"] and summary["samples"] == count and summary["processes"] == RANKS
    assert summary["provenance"]["processes"] == RANKS and "in_memory=false" in summary["memory_decision"]
    ranks = dumps(tmp_path / "dump")
    assert ranks[0]["params_sha256"] == ranks[1]["params_sha256"]
    a, b = (r["indices"] for r in ranks)
    assert len(a) == len(b) == STEPS * BATCH and not set(a) & set(b)
