import copy

import pytest
import torch
from torch import nn

from ganforge.nn import ExponentialMovingAverage, ema_decay_from_half_life, spectral_norm_all


def _tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).double()


def test_update_follows_the_formula_exactly():
    model = _tiny()
    ema = ExponentialMovingAverage(model)
    old = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    ema.update(model, decay=0.9)
    for averaged, before, current in zip(ema.module.parameters(), old, model.parameters()):
        torch.testing.assert_close(averaged, 0.9 * before + 0.1 * current, rtol=0, atol=1e-15)
        assert not torch.equal(averaged, current)


def test_buffers_are_copied_and_copy_is_frozen_and_independent():
    model = _tiny()
    ema = ExponentialMovingAverage(model)
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert all(p.requires_grad for p in model.parameters())
    model(torch.randn(8, 3, dtype=torch.float64) * 4 + 2)  # changes BatchNorm statistics
    before_model = copy.deepcopy(model.state_dict())
    ema.update(model, decay=0.99)
    for name, buffer in model.named_buffers():
        assert torch.equal(dict(ema.module.named_buffers())[name], buffer)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before_model[name])  # the model itself is untouched
    assert ema.module[0].weight.data_ptr() != model[0].weight.data_ptr()


def test_zero_decay_copies_and_one_keeps():
    model = _tiny()
    ema = ExponentialMovingAverage(model)
    start = copy.deepcopy(ema.state_dict())
    with torch.no_grad():
        model[0].weight.mul_(3)
    ema.update(model, decay=1.0)
    assert torch.equal(ema.module[0].weight, start["0.weight"])
    ema.update(model, decay=0.0)
    assert torch.equal(ema.module[0].weight, model[0].weight)
    with pytest.raises(ValueError):
        ema.update(model, decay=1.5)


def test_half_life_in_images():
    assert ema_decay_from_half_life(32, 10_000) == 0.5 ** (32 / 10_000)
    # After half_life / batch_size steps an old weight's share has halved, whatever the batch size.
    for batch in (16, 64, 250):
        decay = ema_decay_from_half_life(batch, 10_000)
        assert decay ** (10_000 / batch) == pytest.approx(0.5, rel=1e-12)
    with pytest.raises(ValueError):
        ema_decay_from_half_life(32, 0)


def test_state_dict_round_trip_and_mismatch_is_error():
    model = _tiny()
    ema = ExponentialMovingAverage(model)
    with torch.no_grad():
        model[0].bias.fill_(5.0)
    ema.update(model, decay=0.5)
    restored = ExponentialMovingAverage(_tiny())
    restored.load_state_dict(ema.state_dict())
    for a, b in zip(restored.state_dict().values(), ema.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="do not match"):
        ema.update(nn.Linear(3, 2).double(), decay=0.5)


def test_spectral_normalised_model_averages_original_weights():
    torch.manual_seed(1)
    model = spectral_norm_all(nn.Linear(4, 4))
    ema = ExponentialMovingAverage(model)
    before = ema.module.parametrizations.weight.original.clone()
    with torch.no_grad():
        model.parametrizations.weight.original.add_(1.0)
    model(torch.randn(2, 4))  # advances the power iteration: buffers _u, _v change
    ema.update(model, decay=0.75)
    expected = 0.75 * before + 0.25 * model.parametrizations.weight.original
    torch.testing.assert_close(ema.module.parametrizations.weight.original, expected)
    torch.testing.assert_close(ema.module.parametrizations.weight[0]._u, model.parametrizations.weight[0]._u)
