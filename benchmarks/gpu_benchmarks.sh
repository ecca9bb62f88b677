#!/usr/bin/env bash
# The quality benchmarks of issues #3, #4 and #6 in one call on a lent GPU machine, side by side
# (16 cores and one GPU): families.py, biggan_mnist.py and Stacked MNIST from mode_coverage.py at
# their default budgets, with the MNIST classifier trained here (runs/benchmarks/classifier-mnist).
# Everything but checkpoints is packed into $OUT/results.tar.gz. Needs .whl/ as gpu_check.sh does.
set -u
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
OUT=${OUT:-/tmp/gpu-bench}; W=/tmp/gpu-bench-work; C=runs/benchmarks/classifier-mnist
mkdir -p "$OUT" "$W"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout 60 python3 -m pytest -q -rA -p no:cacheprovider tests/scale/test_single_machine.py \
  -k "never_waits or fp16" 2>&1 | grep -E "PASSED|FAILED|SKIPPED|passed|failed"
limit=${LIMIT:-400}
timeout $limit python3 benchmarks/families.py --classifier $C --out $W/families > $W/families.log 2>&1 &
timeout $limit python3 benchmarks/biggan_mnist.py --classifier $C --runs $W/biggan-runs --out $W/biggan > $W/biggan.log 2>&1 &
timeout $limit python3 benchmarks/mode_coverage.py --only stacked --classifier $C --work $W/stacked \
  --out $W/stacked.md > $W/stacked.log 2>&1 &
wait
tail -n 25 $W/families.log $W/biggan.log $W/stacked.log
tar czf "$OUT/results.tar.gz" -C "$W" --exclude=checkpoints --exclude='*.safetensors' --exclude='*.pt' .
ls -la "$OUT"
