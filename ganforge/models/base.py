"""What every generator and discriminator offers the families and the trainer.

Generator:      forward(z, labels=None) -> samples in [-1, 1] (images) or R^d (points).
Discriminator:  features(x, labels=None) -> [N, F] body output, forward(x, labels=None) -> [N] logit.
Families attach extra heads (auxiliary classifier, InfoGAN's Q) to `features` via `add_head`.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from ..errors import ConfigError

G_CONDITIONING = ("none", "concat", "multiply")
D_CONDITIONING = ("none", "concat", "projection")


@contextmanager
def inference(model: nn.Module):
    """Run `model` in eval mode (BatchNorm on running statistics) under inference_mode, and give
    it back in the mode it was in, even when the body raises."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield model
    finally:
        model.train(was_training)


def check_mbstd_group(group: int) -> None:
    if group < 0:
        raise ConfigError(f"discriminator.mbstd_group must be >= 0 (0: off), got {group}")


def check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ConfigError(f"{what} must be one of {', '.join(choices)}, got '{value}'")


def one_hot_table(num_classes: int) -> nn.Embedding:
    """An embedding whose rows are the one-hot codes, held as a buffer (nothing to train): the
    tools that blend class embeddings (ganforge.explore) then blend one-hot labels unchanged."""
    table = nn.Embedding(num_classes, num_classes)
    del table.weight
    table.register_buffer("weight", torch.eye(num_classes), persistent=False)  # a constant
    return table


class Generator(nn.Module):
    z_dim: int
    num_classes: int = 0

    def __init__(self, z_dim: int, num_classes: int, conditioning: str):
        super().__init__()
        check_choice(conditioning, G_CONDITIONING, "generator.conditioning")
        if conditioning != "none" and num_classes < 2:
            raise ConfigError("a conditional generator needs labelled data (num_classes >= 2)")
        self.z_dim, self.num_classes, self.conditioning = z_dim, num_classes, conditioning
        # concat (Mirza & Osindero 2014; Odena et al. 2017): the one-hot label appended to z, so
        # G's first layer gets a class-dependent mean. multiply: a learned embedding multiplied
        # element-wise into z; with z symmetric about 0 the label only changes the spread of each
        # input, never its mean, so a linear first layer sees the class only through the scale of
        # its (zero-mean) output, and G learned to ignore it (ACGAN 0.61 conditional accuracy).
        self.label_embedding = None
        if conditioning == "multiply":
            self.label_embedding = nn.Embedding(num_classes, z_dim)
        elif conditioning == "concat":
            self.label_embedding = one_hot_table(num_classes)

    @property
    def input_dim(self) -> int:
        """Width of the vector G's first layer takes: z plus the one-hot label when concatenated."""
        return self.z_dim + (self.num_classes if self.conditioning == "concat" else 0)

    def condition(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.conditioning == "none":
            return z
        if labels is None:
            raise ValueError("this generator is conditional: pass labels")
        if self.conditioning == "concat":
            return torch.cat([z, self.label_embedding(labels).to(z.dtype)], dim=1)
        return z * self.label_embedding(labels)


class Discriminator(nn.Module):
    feature_dim: int

    def __init__(self, data_shape: tuple[int, ...], num_classes: int, conditioning: str):
        super().__init__()
        check_choice(conditioning, D_CONDITIONING, "discriminator.conditioning")
        if conditioning != "none" and num_classes < 2:
            raise ConfigError("a conditional discriminator needs labelled data (num_classes >= 2)")
        self.num_classes, self.conditioning = num_classes, conditioning
        self.label_map = None
        if conditioning == "concat":
            # The label embedded to one extra input plane the size of the image (or one more
            # coordinate for point data), concatenated to D's input.
            self.label_map = nn.Embedding(num_classes, math.prod(data_shape[1:]))
        self.heads = nn.ModuleDict()
        self.projection: nn.Embedding | None = None

    def input_channels(self, data_channels: int) -> int:
        return data_channels + (1 if self.conditioning == "concat" else 0)

    def finish(self, feature_dim: int) -> None:
        """Called by subclasses once the body is built: adds the real/fake output."""
        self.feature_dim = feature_dim
        self.out = nn.Linear(feature_dim, 1)
        if self.conditioning == "projection":  # Miyato & Koyama 2018
            self.projection = nn.Embedding(self.num_classes, feature_dim)

    def add_head(self, name: str, out_dim: int, hidden: int = 0) -> nn.Module:
        """A head on `features`: one linear layer, or with `hidden` > 0 a hidden layer of that
        width (linear, batch norm, leaky ReLU 0.2) before it, as InfoGAN's Q in the authors' code."""
        if hidden:
            head = nn.Sequential(nn.Linear(self.feature_dim, hidden), nn.BatchNorm1d(hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, out_dim))
        else:
            head = nn.Linear(self.feature_dim, out_dim)
        self.heads[name] = head
        return head

    def conditioned_input(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.label_map is None:
            return x
        if labels is None:
            raise ValueError("this discriminator is conditional: pass labels")
        plane = self.label_map(labels).view(x.shape[0], 1, *x.shape[2:])
        return torch.cat([x, plane], dim=1)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def features(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.conditioned_input(x, labels))

    def logit(self, feats: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.out(feats).squeeze(1)
        if self.projection is not None:
            out = out + (self.projection(labels) * feats).sum(1)
        return out

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.logit(self.features(x, labels), labels)
