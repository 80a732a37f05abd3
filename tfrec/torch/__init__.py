"""PyTorch over tfrec datasets, without TensorFlow: tfrec.torch.dataset(path, split=...) and tfrec.torch.loader(...)."""
from .data import Dataset, Loader, dataset, loader

__all__ = ["Dataset", "Loader", "dataset", "loader"]
