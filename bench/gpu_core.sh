#!/usr/bin/env bash
# suites/core.yaml on one GPU shared by fractional Ray trials, with the GPU's utilisation sampled
# once a second. Usage: bash bench/gpu_core.sh GPU_FRACTION OUT_DIR [membench run options]
# Prints the wall time, the mean and median GPU utilisation while trials ran, and the peak memory;
# writes OUT_DIR/smi.csv (the samples), OUT_DIR/run.log, OUT_DIR/report.md and
# OUT_DIR/results.tgz (the records and the whole report).
set -euo pipefail
fraction=${1:?GPU fraction per trial, e.g. 0.0625}
out=${2:?output folder}
shift 2
mkdir -p "$out"
suite="$out/core-gpu.yaml"
# The same suite (same name, same trial ids: train.device is not part of a trial's identity),
# only its resources changed.
sed "s/^resources:.*/resources: {cpu: 1, gpu: $fraction}/" suites/core.yaml >"$suite"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
  -l 1 >"$out/smi.csv" &
smi=$!
start=$(date +%s)
membench run "$suite" --results "$out/results" "$@" 2>&1 | tee "$out/run.log" | tail -n 40
end=$(date +%s)
kill "$smi"
membench report "$out/results" --out "$out/report" >/dev/null 2>&1 || true
cp "$out/report/report.md" "$out/report.md" 2>/dev/null || true
tar czf "$out/results.tgz" -C "$out" results report && rm -rf "$out/results" "$out/report"
python3 - "$out/smi.csv" "$start" "$end" "$fraction" <<'EOF'
import statistics, sys
rows = [line.split(", ") for line in open(sys.argv[1]) if line.strip()]
util = [float(r[1]) for r in rows]
mem = [float(r[2]) for r in rows]
wall = int(sys.argv[3]) - int(sys.argv[2])
print(f"summary: gpu fraction {sys.argv[4]}, wall {wall} s ({wall / 60:.1f} min), "
      f"GPU utilisation mean {statistics.mean(util):.0f}% median {statistics.median(util):.0f}% "
      f"over {len(util)} samples, peak memory {max(mem):.0f} MiB")
EOF
