from .losses import LOSSES, AdversarialLoss

__all__ = ["LOSSES", "AdversarialLoss"]
