"""Data sources: bundled digits, toy 2-D mixtures, Stacked MNIST, image folders, NumPy files,
MNIST IDX and CIFAR batches, all loaded into memory as small uint8 tensors."""

from ganforge.data.bundled import stack_digits
from ganforge.data.dataset import ImageDataset, PointDataset
from ganforge.data.sources import PATH_FORMATS, SOURCES, load_dataset

__all__ = ["ImageDataset", "PointDataset", "load_dataset", "stack_digits", "SOURCES", "PATH_FORMATS"]
