"""ganforge: train, evaluate and explore Generative Adversarial Networks.

    import ganforge
    run = ganforge.train("dcgan")             # or a Config from ganforge.config.resolve(...)
    g = ganforge.load(run)
    images = g.sample(16, seed=0)             # [-1, 1] tensor
"""
from .version import __version__


def train(*args, **kwargs):
    from .api import train as _train
    return _train(*args, **kwargs)


def load(*args, **kwargs):
    from .api import load as _load
    return _load(*args, **kwargs)


__all__ = ["train", "load", "__version__"]
