#!/usr/bin/env bash
# Packed trials on one lent GPU (an H200), without Ray: suites/core.yaml's trials trained by
# bench/packed.py, in under 5 minutes. Usage, from the repository root:
#     bash bench/gpu_packed.sh OUT
# Needs torch, numpy, pyyaml and pydantic (installed from .whl/ when missing). Stages, each
# under its own time limit so the whole fits (a stage that runs out says so and the next runs):
#   1. equivalence on CUDA: a pack of 3 against the same trials alone, plain and as CUDA graphs;
#   2. rates at fixed work (4 cells x 11 seeds, 200 steps): unpacked (11 trials), packs of 4, 11;
#   3. the same packs of 11 replayed as CUDA graphs (--graphs);
#   4. the whole core suite (396 trials, its own steps and early stop) in packs of 11: one pack
#      at a time in each of 12 processes; then as CUDA graphs, each of 4 processes stepping its
#      share of the packs in turn on CUDA streams (--interleave: kernels of packs overlap).
# Everything printed goes to OUT/gpu_packed.md (the tables are bench/RESULTS.md rows).
set -uo pipefail
out=${1:?output folder}
mkdir -p "$out"
log="$out/gpu_packed.md"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! python -c "import pydantic" 2>/dev/null; then # wheels carried in .whl/ (no network there)
  pip install -q --no-index --find-links .whl pydantic 2>&1 | tail -n 3
  python -c "import pydantic" || {
    echo "no pydantic: carry .whl/ with the wheels of pydantic and its dependencies"
    exit 1
  }
fi
start=$(date +%s)
{
  echo "# bench/gpu_packed.sh, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import torch, platform; print('torch', torch.__version__, 'Python', platform.python_version())"
} | tee "$log"

stage() { # stage TITLE SECONDS bench/packed.py options...
  local title=$1 limit=$2
  shift 2
  echo -e "\n## $title\n\n\`python bench/packed.py --device cuda $*\`\n" | tee -a "$log"
  timeout "$limit" python bench/packed.py --device cuda "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || echo "(stage stopped: exit $rc after at most ${limit} s)" | tee -a "$log"
}

echo -e "\n## 1. equivalence on CUDA (pack of 3 vs alone, 300 steps)\n" | tee -a "$log"
timeout 35 python - <<'EOF' 2>&1 | tee -a "$log"
import time
from membench.config.identity import make_spec
from membench.run.packed import run_pack
from membench.run.train import run_trial

train = {"steps": 300, "eval_every": 50, "device": "cuda", "solve_threshold": 1.0}
specs = [
    make_spec("assoc_recall", None, {"mem_tokens": 10, "mem_reads": "memory"}, {**train, "lr": lr}, seed=s)
    for s, lr in [(0, 1e-3), (1, 2e-3), (2, 5e-4)]
]
lone = [run_trial(s) for s in specs]
for graphs in (False, True):
    tick = time.perf_counter()
    try:
        packed = run_pack(specs, graphs=graphs)
    except Exception as err:
        print(f"graphs={graphs}: {type(err).__name__}: {err}")
        continue
    worst = max(
        abs(p["loss"] - a["loss"]) / a["loss"]
        for r, l in zip(packed, lone) for p, a in zip(r["curve"], l["curve"])
    )
    same = all(r["stopped"] == l["stopped"] and r["metrics"]["steps_trained"] == l["metrics"]["steps_trained"]
               for r, l in zip(packed, lone))
    status = {r["status"] for r in packed}, [r.get("error") for r in packed if r.get("error")]
    print(f"graphs={graphs}: worst relative loss difference {worst:.1e}; same stops {same}; "
          f"status {status}; {time.perf_counter() - tick:.1f} s")
EOF

stage "2. rates at fixed work, one process" 60 --trials 44 --seeds 11 --steps 200 --pack 1 4 11 --unpacked-trials 11
stage "3. CUDA graphs, one process" 30 --trials 44 --seeds 11 --steps 200 --pack 11 --graphs
stage "4a. the core suite, packs of 11, 12 processes" 70 --trials 396 --pack 11 --workers 12
stage "4b. the core suite, packs of 11 as CUDA graphs, interleaved in 4 processes" 60 --trials 396 --pack 11 --workers 4 --graphs --interleave
echo -e "\nwhole script: $(($(date +%s) - start)) s" | tee -a "$log"
