"""A critic whose gradients are known exactly, for tests of penalties and of the families using them."""
import torch
from torch import nn


class LinearCritic(nn.Module):
    """D(x) = w . x: its input gradient is w for every sample, so a gradient penalty is
    (||w|| - 1)^2 exactly."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x, labels=None):
        return x.flatten(1) @ self.w
