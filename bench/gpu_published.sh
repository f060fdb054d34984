#!/usr/bin/env bash
# suites/published.yaml on a lent GPU machine without Ray (bench/local_run.py), GPU sampled every
# 2 s. Usage: bash bench/gpu_published.sh OUT_DIR [seconds, default 420]. Writes OUT_DIR/run.log,
# OUT_DIR/smi.csv and OUT_DIR/published.tgz (results/published: records and suite.json).
set -uo pipefail
out=${1:?output folder}
limit=${2:-420}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
  -l 2 >"$out/smi.csv" &
smi=$!
start=$(date +%s)
timeout "$limit" python3 bench/local_run.py suites/published.yaml --results "$PWD/results/published" \
  --device cuda --workers 12 2>&1 | tee "$out/run.log"
echo "wall $(( $(date +%s) - start )) s" | tee -a "$out/run.log"
kill "$smi"
tar czf "$out/published.tgz" results/published
