"""Evaluation speed: FID of generated samples, ganforge's path against the obvious implementation,
in one process (issue 17).

Both compute the FID of n samples of a DCGAN-64 generator (recipe dcgan-64's network, 64x64 digits,
seeded weights; its BatchNorm statistics set by a few training-mode forward passes) against the same
precomputed real statistics, from the same latents:

  (a) the obvious implementation: generate all n images (no_grad, eval mode), then extract all
      features with the network as built, then mean and np.cov in float64 and
      scipy.linalg.sqrtm(sigma1 @ sigma2), as most FID code does;
  (b) ganforge: metrics.evaluate.generated_statistics (each generated batch extracted at once by
      inference copies of G and the network, BatchNorm folded and channels-last, into running
      float64 sums) and metrics.fid.frechet_distance (two symmetric eigendecompositions).

Two feature networks: the MNIST classifier (classifier-FID, 128 features) and the FID Inception-v3
(2048 features). No Inception weights can be downloaded here: the network gets seeded random
weights with its BatchNorm statistics calibrated on one batch; its speed does not depend on the
weights' values, but these FIDs are not Inception FIDs. The real statistics come from the bundled
digits and are not timed (ganforge caches them on disk).

Prints the time of each stage, the totals, the ratio, both FIDs and their relative difference, and
last a markdown block for benchmarks/RESULTS.md. Inception runs on --inception-n samples (default
1,000; the per-image stages scale linearly, so the 10,000-sample time is extrapolated and marked so).

    python benchmarks/eval_speed.py [--n 10000] [--inception-n 1000] [--threads N] [--batch-size 256]
"""
from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
import time

import numpy as np
import torch
from scipy import linalg

from ganforge.data import load_dataset
from ganforge.families import FAMILIES
from ganforge.images import to_uint8
from ganforge.metrics.classifier import load_classifier, to_classifier_input
from ganforge.metrics.evaluate import generated_statistics
from ganforge.metrics.extractors import ClassifierExtractor, InceptionExtractor, inception_input
from ganforge.metrics.fid import feature_statistics, frechet_distance
from ganforge.metrics.inception import FIDInceptionV3
from ganforge.models.dcgan import DCGANGenerator
from throughput import ISA_LIMITS, classifier_path, machine

SEED = 0
TARGET_N = 10_000
INCEPTION_REALS = 500  # real digits behind the Inception reference statistics (not timed)


# ---------------------------------------------------------------- the models

def generator() -> tuple[DCGANGenerator, object]:
    """DCGAN-64's generator (the recipe's widths 64, nz 100) with seeded weights and the BatchNorm
    statistics of a few batches."""
    torch.manual_seed(SEED)
    G = DCGANGenerator((1, 64, 64), z_dim=100, width=64)
    G.noise_dim = G.z_dim
    with torch.no_grad():
        for _ in range(4):
            G(torch.randn(64, G.z_dim))
    family = FAMILIES["gan"]()
    family.setup(G, None, 0)
    return G.eval(), family


def random_inception() -> FIDInceptionV3:
    """The FID Inception network with seeded random weights, each BatchNorm's statistics set to
    those of one batch (so activations keep a sensible scale through the 94 layers)."""
    torch.manual_seed(SEED)
    net = FIDInceptionV3()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    with torch.no_grad():
        net.train()(torch.rand(8, 3, 299, 299) * 2 - 1)
    return net.eval()


# ---------------------------------------------------------------- (a) the obvious implementation

def obvious_fid(G, features_of, z, ref_mu, ref_sigma, batch_size) -> tuple[float, dict]:
    times = {}
    start = time.perf_counter()
    with torch.no_grad():
        images = torch.cat([to_uint8(G(chunk)) for chunk in z.split(batch_size)])
    times["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        features = torch.cat([features_of(batch) for batch in images.split(batch_size)]).double().numpy()
    times["features"] = time.perf_counter() - start
    start = time.perf_counter()
    mu, sigma = features.mean(axis=0), np.cov(features, rowvar=False)
    times["statistics"] = time.perf_counter() - start
    start = time.perf_counter()
    covmean = linalg.sqrtm(ref_sigma @ sigma).real
    diff = mu - ref_mu
    fid = float(diff @ diff + np.trace(ref_sigma) + np.trace(sigma) - 2 * np.trace(covmean))
    times["distance"] = time.perf_counter() - start
    return fid, times


# ---------------------------------------------------------------- (b) ganforge

def ganforge_fid(G, family, extractor, n, ref_mu, ref_sigma, batch_size) -> tuple[float, dict]:
    start = time.perf_counter()
    mu, sigma = generated_statistics(G, family, "cpu", extractor, n, SEED, 64, batch_size)
    streamed = time.perf_counter() - start
    start = time.perf_counter()
    fid = frechet_distance(ref_mu, ref_sigma, mu, sigma)
    return fid, {"generate + features + statistics (streamed)": streamed, "distance": time.perf_counter() - start}


# ---------------------------------------------------------------- the benchmark

def compare(label, G, family, extractor, features_of, n, reals, batch_size, repeats) -> dict:
    ref_mu, ref_sigma = feature_statistics(extractor.extract(reals, batch_size=batch_size)[0])
    z = family.sample_latent(n, G.noise_dim, torch.device("cpu"), torch.Generator().manual_seed(SEED)).z
    runs = {"obvious": [], "ganforge": []}
    for r in range(repeats):  # alternate the order so that both see the same machine load
        order = ("obvious", "ganforge") if r % 2 == 0 else ("ganforge", "obvious")
        for which in order:
            cpu = time.process_time()
            if which == "obvious":
                fid, times = obvious_fid(G, features_of, z, ref_mu, ref_sigma, batch_size)
            else:
                fid, times = ganforge_fid(G, family, extractor, n, ref_mu, ref_sigma, batch_size)
            runs[which].append((fid, times, time.process_time() - cpu))
            print(f"{label}, {which}: FID {fid:.6f}, " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
                  + f", total {sum(times.values()):.2f} s wall, {runs[which][-1][2]:.2f} s CPU", flush=True)
    best = {k: min(v, key=lambda run: sum(run[1].values())) for k, v in runs.items()}
    result = {"label": label, "n": n}
    for which, (fid, times, cpu) in best.items():
        result[which] = {"fid": fid, "times": times, "total": sum(times.values()), "cpu": cpu}
    result["ratio"] = result["obvious"]["total"] / result["ganforge"]["total"]
    result["cpu_ratio"] = result["obvious"]["cpu"] / result["ganforge"]["cpu"]
    result["fid_rel_diff"] = abs(result["ganforge"]["fid"] - result["obvious"]["fid"]) / abs(result["obvious"]["fid"])
    return result


def extrapolated_total(result: dict, which: str, target: int) -> float:
    """Per-image stages scale with n; the distance (D x D matrices) does not."""
    times = result[which]["times"]
    per_image = sum(v for k, v in times.items() if k != "distance")
    return per_image * target / result["n"] + times["distance"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=TARGET_N, help="samples for the classifier-FID")
    p.add_argument("--inception-n", type=int, default=1000, help="samples for the Inception FID (0: skip)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=2, help="runs of each path (alternating order)")
    p.add_argument("--inception-repeats", type=int, default=1)
    p.add_argument("--classifier", help="classifier directory (default: benchmarks/throughput.py's)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine(torch.device("cpu"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {info['name']}, {info['cores']} cores, {info['threads']} torch threads, "
          f"bf16 instructions: {info['bf16']}, torch {info['torch']}; load average {load:.1f} at start")

    G, family = generator()
    reals = load_dataset("mnist", image_size=64).images
    results = []
    model, meta = load_classifier(classifier_path(args.classifier))
    classifier = ClassifierExtractor(model, meta, source="mnist classifier")

    def classifier_features(batch):
        return model.features_and_logits(to_classifier_input(batch, model.channels, model.image_size))[0]

    results.append(compare("classifier-FID", G, family, classifier, classifier_features, args.n, reals,
                           args.batch_size, args.repeats))
    if args.inception_n:
        network = random_inception()
        inception = InceptionExtractor(network, "random-weights")

        def inception_features(batch):
            return network(inception_input(batch))[0]

        results.append(compare("Inception-FID (random weights)", G, family, inception, inception_features,
                               args.inception_n, reals[:min(INCEPTION_REALS, max(args.inception_n, 2))], args.batch_size,
                               args.inception_repeats))

    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    for r in results:
        a, b = r["obvious"], r["ganforge"]
        note = ""
        total_a, total_b = a["total"], b["total"]
        if r["n"] != TARGET_N:
            total_a, total_b = extrapolated_total(r, "obvious", TARGET_N), extrapolated_total(r, "ganforge", TARGET_N)
            note = f" (measured at n={r['n']}: {a['total']:.1f} s vs {b['total']:.1f} s; 10,000 extrapolated)"
        stages_a = ", ".join(f"{k} {v:.1f}" for k, v in a["times"].items())
        stages_b = ", ".join(f"{k} {v:.1f}" for k, v in b["times"].items())
        rows.append(f"| {r['label']} of 10,000 samples | {total_a:.1f} s ({stages_a}) | {total_b:.1f} s ({stages_b}) "
                    f"| **{total_a / total_b:.2f}x** ({r['cpu_ratio']:.2f}x in CPU time){note} | {a['fid']:.4f} vs {b['fid']:.4f} "
                    f"(rel. diff {r['fid_rel_diff']:.1e}) |")
        print(f"{r['label']}: obvious {total_a:.1f} s, ganforge {total_b:.1f} s for 10,000 samples: "
              f"{total_a / total_b:.2f}x ({r['cpu_ratio']:.2f}x in CPU time){note}; FID {a['fid']:.6f} vs {b['fid']:.6f}")
    emulation = [k for k in ISA_LIMITS if os.environ.get(k)]
    command = "python benchmarks/eval_speed.py " + shlex.join(sys.argv[1:])
    print(f"""
### Evaluation speed on the CPU (`benchmarks/eval_speed.py`)

Machine: {info['name']}, {info['cores']} cores ({info['threads']} torch threads), bf16 instructions: {info['bf16']}; torch {info['torch']}; {datetime.date.today().isoformat()}; load average {load:.1f} at start, {load_end:.1f} at the end{' (ISA limited: ' + ', '.join(emulation) + ')' if emulation else ''}.
Command: `{command.strip()}`

| FID of a DCGAN-64 generator | obvious: generate all, extract, np.cov, scipy sqrtm (s per stage) | ganforge: streamed, folded BN, channels-last, eigh (s per stage) | speed-up | FID obvious vs ganforge |
|---|---:|---:|---:|---:|
""" + "\n".join(rows) + f"""

Both in fp32 from the same latents and the same generator weights (seeded, not trained: speed does
not depend on them), against the same precomputed statistics of real digits. Best of
{args.repeats} (classifier) and {args.inception_repeats} (Inception) runs of each path, in
alternating order. The Inception network has seeded random weights (none can be downloaded
here): its speed is that of the real network, its FID values are not Inception FIDs.""")


if __name__ == "__main__":
    main()
