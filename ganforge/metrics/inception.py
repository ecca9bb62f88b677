"""Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture") as in the TensorFlow
graph of 2015-12-05 that the FID paper (Heusel et al. 2017) and the Inception Score (Salimans et al.
2016) use, so its numbers compare with published ones.

It differs from the usual torchvision model where that graph does: the average pools in the A, C and
first E blocks leave padding out of the average, the last E block pools with max, and the classifier
has 1008 outputs. Parameter names follow the published port of those weights
(pt_inception-2015-12-05-6726825d.pth), so that file loads with strict=True."""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import CheckpointError, GanforgeError
from ganforge.io import load_error_reason, sha256_file
from ganforge.nn.inference import fold_pair

INCEPTION_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INPUT_SIZE = 299
POOL_FEATURES = 2048
LOGITS = 1008


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average that ignores padding (TF's 'SAME' average pool)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def max_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 max pool, used by the last block of the TF graph."""
    return F.max_pool2d(x, 3, stride=1, padding=1)


class ConvBN(nn.Module):
    """Convolution without bias, BatchNorm (eps 0.001 as in TF), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))

    def fold_batchnorm(self) -> None:
        """For ganforge.nn.inference: the BatchNorm folded into the convolution (eval mode)."""
        self.conv, self.bn = fold_pair(self.conv, self.bn)


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pooled branches."""

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)
        self.pool = avg_pool_3x3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(self.pool(x)),
        ], dim=1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], dim=1)


class InceptionC(nn.Module):
    """17x17 block with 7x7 convolutions factorised into 1x7 and 7x1."""

    def __init__(self, in_channels: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)
        self.pool = avg_pool_3x3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            double,
            self.branch_pool(self.pool(x)),
        ], dim=1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([
            self.branch3x3_2(self.branch3x3_1(x)),
            seven,
            F.max_pool2d(x, 3, stride=2),
        ], dim=1)


class InceptionE(nn.Module):
    """8x8 block with expanded 1x3 / 3x1 filter banks; `pool` is the TF graph's pooling choice."""

    def __init__(self, in_channels: int, pool):
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        single = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(single), self.branch3x3_2b(single),
            self.branch3x3dbl_3a(double), self.branch3x3dbl_3b(double),
            self.branch_pool(self.pool(x)),
        ], dim=1)


class FIDInceptionV3(nn.Module):
    """Maps images in [-1, 1] at 299x299 to (pool3 features [N, 2048], logits without the final
    bias [N, 1008]); the Inception Score takes the softmax of the latter."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool=avg_pool_3x3)
        self.Mixed_7c = InceptionE(2048, pool=max_pool_3x3)
        self.fc = nn.Linear(POOL_FEATURES, LOGITS)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)
        pool3 = x.mean(dim=(2, 3))
        # The reference IS code reads the logits before the bias is added.
        return pool3, pool3 @ self.fc.weight.T


def load_inception(path, expected_sha256: str = INCEPTION_SHA256) -> FIDInceptionV3:
    """The network in eval mode with the weights at `path`, after checking the file's SHA-256
    (the published file's by default; tests pass the hash of a file they wrote)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Inception weights not found: {path} (expected the file {INCEPTION_FILENAME})")
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise CheckpointError(f"Inception weights {path} have SHA-256 {actual[:12]}..., expected "
                              f"{expected_sha256[:12]}... ({INCEPTION_FILENAME}); the file is corrupt or another one")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network = FIDInceptionV3()
        network.load_state_dict(state, strict=True)
    except Exception as error:  # unpickling refused, or keys/shapes that are not this network's
        raise CheckpointError(f"cannot load Inception weights {path}: {load_error_reason(error)}") from None
    return network.eval()


def require_weights_path(path) -> Path:
    """The weights path, or the one error message that tells the user how to provide it."""
    if not path:
        raise GanforgeError("FID with the Inception network needs its weights: pass --inception-weights PATH "
                            f"or set GANFORGE_INCEPTION_WEIGHTS; the file is {INCEPTION_FILENAME}")
    return Path(path)


