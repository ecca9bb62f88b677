"""train.sync_bn's conversion: plain BatchNorms become SyncBatchNorm, conditional ones keep
their call signature (SyncBatchNorm itself runs only under CUDA with a process group)."""
import torch
from torch import nn

from ganforge.models import GENERATORS
from ganforge.nn import ConditionalBatchNorm2d
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
