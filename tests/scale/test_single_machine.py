"""The single-machine speed options: precision, channels_last, torch.compile's fallback, the
per-phase gradients, the CLI flags, and folders streamed through a DataLoader."""
import json
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ganforge import api
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.data import load_dataset
from ganforge.data.batches import InMemoryBatches, StreamingBatches, epoch_order
from ganforge.data.training_data import open_stream, open_training_data
from ganforge.errors import ConfigError, DataError
from ganforge.training import checkpoint as ckpt
from ganforge.training import runtime
from ganforge.training.logbook import StatsAccumulator
from ganforge.training.trainer import Trainer


def _weights(run):
    return load_file(str(ckpt.checkpoint_dirs(run)[-1] / ckpt.WEIGHTS))


def _same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------- the epoch order

def test_epoch_order_shards_one_permutation_disjointly():
    n, batch = 103, 5
    full = epoch_order(n, seed=3, epoch=2, rank=0, world_size=1, batch_size=1).flatten()
    assert sorted(full.tolist()) == list(range(n))
    shards = [epoch_order(n, 3, 2, rank, 3, batch) for rank in range(3)]
    assert all(s.shape == (34 // batch, batch) for s in shards)  # 34 per rank, 6 full batches
    for rank, shard in enumerate(shards):
        assert torch.equal(shard.flatten(), full[rank::3][:30])  # every 3rd of the same order
    assert not torch.equal(epoch_order(n, 3, 3, 0, 1, batch), epoch_order(n, 3, 2, 0, 1, batch))


# ---------------------------------------------------------------- streaming a folder

@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """23 gray 12x12 PNGs in two class folders, each image's pixels saying which one it is."""
    root = tmp_path_factory.mktemp("stream")
    for i in range(23):
        cls = "a" if i < 11 else "b"
        (root / cls).mkdir(exist_ok=True)
        pixels = np.full((12, 12), 10 * i, np.uint8)
        pixels[0, 0] = 255 - i
        Image.fromarray(pixels).save(root / cls / f"{i:02d}.png")
    return root


def _streaming(folder, batch=4, seed=5, workers=1, rank=0, world=1, skip_bad=False):
    stream = open_stream(str(folder), 8, 0)
    return StreamingBatches(stream, batch, seed, torch.device("cpu"), rank, world, workers, skip_bad)


def test_streamed_batches_equal_in_memory_batches(folder):
    data = load_dataset(str(folder), image_size=8)
    memory = InMemoryBatches(data.images, data.labels, 4, 5, torch.device("cpu"))
    stream = _streaming(folder)
    for _ in range(12):  # 5 batches per epoch: crosses two epoch boundaries
        (x1, y1), (x2, y2) = memory.next(), stream.next()
        assert x2.dtype == torch.float32 and x2.shape == (4, 1, 8, 8)
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert stream.state_dict() == memory.state_dict() == {"epoch": 2, "position": 2, "batch_size": 4}


def test_streamed_batches_resume_exactly_and_shard(folder):
    straight = _streaming(folder, workers=0)
    first = [straight.next()[0] for _ in range(3)]
    state = straight.state_dict()
    rest = [straight.next()[0] for _ in range(4)]
    resumed = _streaming(folder, workers=1)
    resumed.load_state_dict(state)
    for want in rest:
        assert torch.equal(resumed.next()[0], want)
    assert not torch.equal(first[0], rest[0])
    shards = [_streaming(folder, batch=3, rank=r, world=2, workers=0) for r in range(2)]
    for s in shards:
        s.consumed = []
        for _ in range(3):
            s.next()
    assert len(shards[0].consumed) == 9 and not set(shards[0].consumed) & set(shards[1].consumed)


def test_streaming_reports_or_skips_a_bad_file(tmp_path, folder):
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in sorted(folder.glob("*/*.png"))[:8]:
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "05.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="05.png"):
        stream = _streaming(bad, batch=8, workers=0)
        stream.next()
    stream = _streaming(bad, batch=8, workers=0, skip_bad=True)
    with pytest.warns(UserWarning, match="skipping unreadable image.*05.png"):
        x, _ = stream.next()
    assert x.shape[0] == 8 and stream.skipped == 1


def test_streaming_needs_a_folder_and_families_needing_all_data_say_so(folder, tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 8, 8), np.uint8))
    assert open_stream(str(tmp_path / "a.npz"), 8, 0) is None
    with pytest.warns(UserWarning, match="a.npz is loaded into memory"):
        data, plan = open_training_data(str(tmp_path / "a.npz"), 8, in_memory=False)
    assert plan.in_memory and len(data) == 4
    with pytest.raises(ConfigError, match="data.in_memory=true"):
        _streaming(folder, workers=0).data
    with pytest.raises(ConfigError, match="train.eval_every needs the training set in memory"):
        api.train(resolve("dcgan", [f"data.source={folder}", "data.memory_limit=1KiB", "train.eval_every=2"]),
                  out=tmp_path / "run")


def test_training_from_a_streamed_folder_resumes_exactly(tmp_path, folder, tiny_dcgan):
    sets = [s for s in tiny_dcgan if not s.startswith("train.batch_size")] + [
        f"data.source={folder}", "data.workers=1", "train.batch_size=4"]
    # data.in_memory=auto (the default) streams this folder (23 x 1x16x16 = 5,888 bytes decoded)
    # because it is over the limit; the interrupted run streams because it is told to.
    straight = api.train(resolve("dcgan", sets + ["train.steps=6", "data.memory_limit=5KiB"]),
                         out=tmp_path / "straight")
    cut = api.train(resolve("dcgan", sets + ["train.steps=4", "data.in_memory=false"]), out=tmp_path / "cut")
    resumed = api.resume(cut, {"train": {"steps": 6}})
    _same_weights(_weights(straight), _weights(resumed))
    info = json.loads((straight / "data.json").read_text())
    assert info["streamed"] and info["samples"] == 23 and info["shape"] == [1, 16, 16]
    assert not info["in_memory"] and info["decoded_bytes"] == 23 * 16 * 16
    assert info["memory_limit_bytes"] == 5 * 1024 and "over data.memory_limit" in info["memory_decision"]
    # Streamed or in memory, the same folder trains identically.
    memory = api.train(resolve("dcgan", sets + ["train.steps=6"]), out=tmp_path / "memory")
    info = json.loads((memory / "data.json").read_text())
    assert info["in_memory"] and not info["streamed"] and "within" in info["memory_decision"]
    _same_weights(_weights(straight), _weights(memory))


# ---------------------------------------------------------------- precision and layout

def test_bf16_channels_last_trains_and_resumes_exactly(tmp_path, tiny_dcgan):
    sets = tiny_dcgan + ["train.precision=bf16", "train.channels_last=true", "train.ema=true"]
    straight = api.train(resolve("dcgan", sets + ["train.steps=6"]), out=tmp_path / "straight")
    cut = api.train(resolve("dcgan", sets + ["train.steps=3"]), out=tmp_path / "cut")
    _same_weights(_weights(straight), _weights(api.resume(cut, {"train": {"steps": 6}})))
    log = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["g_loss"]) for r in log)


def test_channels_last_layout_and_autocast_dtype(tmp_path, tiny_dcgan):
    cfg = resolve("dcgan", tiny_dcgan + ["train.precision=bf16", "train.channels_last=true"])
    (tmp_path / "r").mkdir()
    trainer = Trainer(cfg, tmp_path / "r")
    conv = trainer.D.net[2].weight  # 8 -> 16 channels (with one channel both layouts agree)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    reals, _ = trainer._next_reals()
    assert reals.is_contiguous(memory_format=torch.channels_last)
    inside = []
    trainer.D.net[2].register_forward_hook(lambda m, i, out: inside.append(out.dtype))
    with trainer.rt.autocast():
        logits = trainer.D(reals)
    # Convolutions run in bf16; the logits the losses see are fp32.
    assert inside == [torch.bfloat16] and logits.dtype == torch.float32
    assert conv.dtype == torch.float32  # weights stay fp32; autocast casts per op


def test_fp16_needs_cuda_as_a_one_line_error(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train", "--precision", "fp16", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err == "error: fp16 needs CUDA (use bf16 on the CPU)\n"


def test_cli_device_precision_compile_flags_map_to_the_config(tmp_path, tiny_dcgan, monkeypatch):
    monkeypatch.setattr(runtime, "compile_failure", lambda device: "RuntimeError: no compiler here")
    sets = [a for s in tiny_dcgan + ["train.steps=2", "train.precision=fp32"] for a in ("--set", s)]
    out = tmp_path / "r"
    with pytest.warns(UserWarning, match="torch.compile is unavailable"):
        assert main(["train", "--out", str(out), *sets, "--device", "cpu", "--precision", "bf16",
                     "--compile"]) == 0
    saved = json.loads((out / "config.json").read_text())["train"]
    assert (saved["device"], saved["precision"], saved["compile"]) == ("cpu", "bf16", True)


# ---------------------------------------------------------------- torch.compile

def test_compile_failure_warns_one_line_and_trains_eagerly(tmp_path, tiny_dcgan, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")
    monkeypatch.setattr(torch, "compile", broken)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = api.train(resolve("dcgan", tiny_dcgan + ["train.steps=2", "train.compile=true"]),
                        out=tmp_path / "r")
    messages = [str(w.message) for w in caught if "torch.compile" in str(w.message)]
    assert messages == ["torch.compile is unavailable (RuntimeError: InvalidCxxCompiler: No working "
                        "C++ compiler found); training continues without it"]
    assert ckpt.checkpoint_dirs(run)


def test_compile_applies_to_both_models_when_it_works(tmp_path, tiny_dcgan, monkeypatch):
    compiled = []

    def fake_compile(self, *args, **kwargs):
        compiled.append(type(self).__name__)
        self.compiled_here = True  # travels with a deepcopy, as a compiled call would

    monkeypatch.setattr(runtime, "compile_failure", lambda device: None)
    monkeypatch.setattr(torch.nn.Module, "compile", fake_compile)
    (tmp_path / "r").mkdir()
    trainer = Trainer(resolve("dcgan", tiny_dcgan + ["train.compile=true", "train.ema=true"]), tmp_path / "r")
    assert compiled == ["DCGANGenerator", "DCGANDiscriminator"]
    assert trainer.G.compiled_here and trainer.D.compiled_here
    # The average was copied before G was compiled: its module is a plain, eager copy.
    assert not hasattr(trainer.ema.module, "compiled_here")


# ---------------------------------------------------------------- per-phase gradients

def test_g_step_computes_no_discriminator_weight_gradients(tmp_path, tiny_dcgan):
    (tmp_path / "r").mkdir()
    trainer = Trainer(resolve("dcgan-paper", tiny_dcgan), tmp_path / "r")  # no R1 phase: one D accumulation
    counts = {}
    for name, p in [*trainer.G.named_parameters(prefix="G"), *trainer.D.named_parameters(prefix="D")]:
        p.register_post_accumulate_grad_hook(lambda p, name=name: counts.update({name: counts.get(name, 0) + 1}))
    trainer._train_step(StatsAccumulator())
    d_names = [n for n in counts if n.startswith("D")]
    g_names = [n for n in counts if n.startswith("G")]
    # One accumulation per parameter: D's from the D step only, G's from the G step.
    assert len(d_names) == len(list(trainer.D.parameters()))
    assert len(g_names) == len(list(trainer.G.parameters()))
    assert set(counts.values()) == {1}
    trainer._train_only(None)
    assert all(p.requires_grad for p in trainer._trainable)


# ---------------------------------------------------------------- host synchronisation

@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to detect host syncs")
def test_training_step_never_waits_for_the_gpu(tmp_path, tiny_dcgan):
    cfg = resolve("dcgan", tiny_dcgan + ["train.device=cuda", "train.precision=fp16"])
    (tmp_path / "r").mkdir()
    trainer = Trainer(cfg, tmp_path / "r")
    stats = StatsAccumulator()
    trainer._train_step(stats)  # first step: kernels load, allocator warms up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            trainer._train_step(stats)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert set(stats.means()) >= {"d_loss", "g_loss"}
