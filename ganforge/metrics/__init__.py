"""Evaluation: feature extractors (the FID Inception port, a domain classifier), FID, KID, IS,
precision/recall, density/coverage, and mode coverage."""

from ganforge.metrics.classifier import DigitClassifier, load_classifier, save_classifier, train_classifier
from ganforge.metrics.extractors import (ClassifierExtractor, FeatureExtractor, InceptionExtractor,
                                         get_extractor)
from ganforge.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from ganforge.metrics.inception import FIDInceptionV3, load_inception
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kid
from ganforge.metrics.manifold import density_coverage, precision_recall
from ganforge.metrics.modes import mode_coverage_2d, reverse_kl_to_uniform, stacked_mnist_modes
from ganforge.metrics.registry import METRICS, compute_metrics

__all__ = [
    "METRICS", "ClassifierExtractor", "DigitClassifier", "FIDInceptionV3", "FeatureExtractor",
    "InceptionExtractor", "compute_metrics", "density_coverage", "feature_statistics", "fid_from_features",
    "frechet_distance", "get_extractor", "inception_score", "kid", "load_classifier", "load_inception",
    "mode_coverage_2d", "precision_recall", "reverse_kl_to_uniform", "save_classifier",
    "stacked_mnist_modes", "train_classifier",
]
