import pytest
import torch

from ganforge.nn import SelfAttention


def _attention_by_hand(block: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    theta = block.theta(x).reshape(n, c // 8, h * w)
    phi = torch.nn.functional.max_pool2d(block.phi(x), 2).reshape(n, c // 8, h * w // 4)
    g = torch.nn.functional.max_pool2d(block.g(x), 2).reshape(n, c // 2, h * w // 4)
    beta = torch.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)  # [N, HW, HW/4]
    attended = torch.bmm(g, beta.transpose(1, 2)).reshape(n, c // 2, h, w)
    return x + block.gamma * block.out(attended)


def test_attention_is_identity_at_init():
    torch.manual_seed(0)
    block = SelfAttention(32)
    assert block.gamma.item() == 0.0
    x = torch.randn(2, 32, 8, 6)
    assert torch.equal(block(x), x)


def test_attention_matches_hand_computation_once_gamma_is_set():
    torch.manual_seed(1)
    block = SelfAttention(16)
    with torch.no_grad():
        block.gamma.fill_(0.7)
    x = torch.randn(3, 16, 8, 8)
    out = block(x)
    assert (out - x).abs().max() > 1e-2
    torch.testing.assert_close(out, _attention_by_hand(block, x), rtol=1e-5, atol=1e-5)


def test_attention_channel_sizes_and_gradient_reaches_gamma():
    block = SelfAttention(64)
    assert [block.theta.out_channels, block.phi.out_channels, block.g.out_channels] == [8, 8, 32]
    assert block.out.in_channels == 32 and block.out.out_channels == 64
    block(torch.randn(2, 64, 4, 4)).square().sum().backward()
    assert block.gamma.grad is not None and block.gamma.grad.abs() > 0


def test_attention_rejects_channels_not_divisible_by_eight():
    with pytest.raises(ValueError, match="divisible by 8"):
        SelfAttention(12)
