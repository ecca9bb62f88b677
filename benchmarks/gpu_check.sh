#!/usr/bin/env bash
# CUDA checks in one call on a lent GPU machine, run from the repository root with that machine's
# python3 (its own torch): the CUDA-only tests, the default recipe at each precision, the
# throughput benchmark, DDP through torchrun with NCCL (one GPU: one rank), and torch.compile.
# Logs go to $OUT (default /tmp/gpu-check). Needs .whl/ (mlxtend, starlette, uvicorn wheels) and
# the MNIST classifier in runs/benchmarks/classifier-mnist (python benchmarks/classifier_mnist.py
# --save runs/benchmarks/classifier-mnist).
set -u
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu-check}; WORK=/tmp/gpu-check-runs; mkdir -p "$OUT" "$WORK"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
quiet="--set train.progress=false --set train.device=cuda"

echo "== 1. tests/scale/test_single_machine.py on a CUDA machine"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/scale/test_single_machine.py 2>&1 | tail -4

echo "== 2. default recipe (DCGAN-32, 5000 steps) at each precision"
for p in fp32 bf16 fp16; do
  start=$(date +%s.%N)
  timeout 120 python3 -m ganforge train --out "$WORK/dcgan-$p" $quiet --set train.precision=$p > "$WORK/$p.log" 2>&1
  rc=$?; end=$(date +%s.%N)
  echo "$p: exit $rc, $(python3 -c "print(f'{$end - $start:.1f}')") s wall; $(tail -1 "$WORK/$p.log")"
  python3 - "$WORK/dcgan-$p/metrics.jsonl" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if '"img_per_s"' in l]
print(f"   median img/s {statistics.median(r['img_per_s'] for r in rows[1:]):.0f}; last d_loss {rows[-1]['d_loss']:.3f} g_loss {rows[-1]['g_loss']:.3f}")
PY
done
cp "$WORK/dcgan-bf16/samples/latest.png" "$OUT/dcgan-cuda-bf16.png" 2>/dev/null

echo "== 3. benchmarks/throughput.py on CUDA"
timeout 200 python3 benchmarks/throughput.py --device cuda --steps 2000 --segment 100 \
  --classifier runs/benchmarks/classifier-mnist > "$OUT/throughput-cuda.txt" 2>&1
echo "exit $?"; tail -25 "$OUT/throughput-cuda.txt"

echo "== 4. torchrun, NCCL, sync_bn (one GPU: one rank), then resume"
timeout 90 python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m ganforge train \
  --out "$WORK/ddp" $quiet --set train.sync_bn=true --set train.steps=300 --set train.ckpt_every=100 2>&1 | tail -3
timeout 60 python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m ganforge train \
  --resume "$WORK/ddp" --set train.steps=400 2>&1 | tail -3
tail -1 "$WORK/ddp/metrics.jsonl"

echo "== 5. --compile on CUDA (bf16, channels_last)"
timeout 150 python3 -m ganforge train --out "$WORK/compiled" $quiet --compile --set train.precision=bf16 \
  --set train.channels_last=true --set train.steps=1500 2>&1 | tail -3
python3 - "$WORK/compiled/metrics.jsonl" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if '"img_per_s"' in l]
print(f"compiled: median img/s {statistics.median(r['img_per_s'] for r in rows[2:]):.0f} over {len(rows)} log lines")
PY
