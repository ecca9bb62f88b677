"""train.sync_bn's conversion: plain BatchNorms become SyncBatchNorm, conditional ones keep
their call signature (SyncBatchNorm itself runs only under CUDA with a process group)."""
import pytest
import torch
from torch import nn

from ganforge.models import GENERATORS
from ganforge.nn import ConditionalBatchNorm2d
from ganforge.training import runtime
from ganforge.training.runtime import sync_batchnorms


def _biggan(**kwargs):
    args = dict(z_dim=16, width=8, multipliers=[2, 2, 1], shared_dim=8, attention_resolution=0)
    return GENERATORS["biggan"](data_shape=(1, 16, 16), **{**args, **kwargs})


def test_unconditional_non_hierarchical_biggan_converts_its_plain_batchnorms():
    G = _biggan(num_classes=0, hierarchical=False, conditioning="none")
    plain = [m for m in G.modules() if type(m) is nn.BatchNorm2d]
    assert plain and not any(isinstance(m, ConditionalBatchNorm2d) for m in G.modules())
    state = {k: v.clone() for k, v in G.state_dict().items()}
    G = sync_batchnorms(G)
    assert not any(type(m) is nn.BatchNorm2d for m in G.modules())
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in G.modules()) == len(plain)
    assert all(torch.equal(state[k], v) for k, v in G.state_dict().items())  # same keys and values
    G.eval()  # eval mode: SyncBatchNorm normalises with running statistics, no process group
    assert G(torch.randn(2, 16)).shape == (2, 1, 16, 16)


def test_conditional_batchnorm_stays_callable_with_its_condition():
    G = _biggan(num_classes=10, hierarchical=True)
    conditional = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    G = sync_batchnorms(G)
    after = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert after == conditional and all(isinstance(m.bn, nn.SyncBatchNorm) for m in after)
    bn = after[0].eval()
    x, cond = torch.randn(2, bn.bn.num_features, 4, 4), torch.randn(2, bn.gain.in_features)
    assert bn(x, cond).shape == x.shape
    G.eval()
    assert G(torch.randn(2, 16), torch.tensor([1, 2])).shape == (2, 1, 16, 16)


# ---------------------------------------------------------------- train.precision=auto


def _cpu_with(monkeypatch, flags, capability="AVX512", onednn_bf16=True):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: set(flags))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16, raising=False)


@pytest.mark.parametrize("flags, capability, onednn, isa_cap, fast", [
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AVX512", True, None, True),   # Sapphire Rapids
    ({"avx2", "avx512f", "avx512_bf16", "amx_bf16"}, "AVX512", True, "AVX512_CORE_AMX", True),
    ({"avx2", "avx512f", "avx512_bf16"}, "AVX512", True, None, False),               # Cooper Lake, Zen 4
    ({"avx2", "fma"}, "AVX2", False, None, False),                                   # an AVX2-only EPYC
    ({"avx2", "avx512f"}, "AVX512", True, None, False),                              # Skylake: AVX-512, no bf16
    ({"avx512_bf16", "amx_bf16"}, "AVX2", True, None, False),                        # ATEN_CPU_CAPABILITY=avx2
    ({"avx512_bf16", "amx_bf16"}, "AVX512", False, "AVX2", False),                   # ONEDNN_MAX_CPU_ISA=AVX2
    ({"avx512_bf16", "amx_bf16"}, "AVX512", True, "AVX512_CORE_BF16", False),        # oneDNN capped below AMX
])
def test_bf16_counts_as_fast_only_with_amx_that_torch_uses(monkeypatch, flags, capability, onednn, isa_cap, fast):
    # avx512_bf16 without AMX ran bf16 autocast slower than fp32 (benchmarks/RESULTS.md).
    _cpu_with(monkeypatch, flags, capability, onednn)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if isa_cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa_cap)
    assert runtime.fast_bf16(torch.device("cpu")) is fast


def test_auto_precision_is_bf16_only_where_it_is_fast_and_explicit_choices_stay():
    assert runtime.choose_precision("auto", bf16_is_fast=True) == "bf16"
    assert runtime.choose_precision("auto", bf16_is_fast=False) == "fp32"
    for explicit in ("fp32", "bf16"):
        assert runtime.choose_precision(explicit, bf16_is_fast=False) == explicit
        assert runtime.choose_precision(explicit, bf16_is_fast=True) == explicit


def test_auto_runs_channels_last_and_the_configured_layout_stays_otherwise():
    assert runtime.fastest_layout(False, "auto") and runtime.fastest_layout(True, "fp32")
    assert not runtime.fastest_layout(False, "fp32") and not runtime.fastest_layout(False, "bf16")


@pytest.mark.parametrize("fast, expected", [(False, "fp32"), (True, "bf16")])
def test_resolved_runtime_of_auto_on_the_cpu(monkeypatch, fast, expected):
    monkeypatch.setattr(runtime, "fast_bf16", lambda device: fast)
    rt = runtime.resolve_runtime("cpu", "auto")
    assert rt.precision == expected and rt.device.type == "cpu"
