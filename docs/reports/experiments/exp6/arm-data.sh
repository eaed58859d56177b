#!/usr/bin/env bash
# usage: arm.sh NAME INIT CPU_SECONDS ARGS...  -- one phase from INIT on one thread, ended by a CPU-time budget
set -euo pipefail
NAME=$1; INIT=$2; BUDGET=$3; shift 3
cd /work/main; source .venv/bin/activate
DATA=(/work/data/train-384a /work/data/train-384b /work/data/train-384c /work/data/train-384d /work/data/train-real /work/data/train-real2)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
/usr/bin/time -f "$NAME cpu_user=%U cpu_sys=%S wall=%e maxrss_kb=%M" iexplain train-classifier \
  "${DATA[@]}" --cache /work/cache \
  --batch-size 32 --val-fraction 0.1 --seed 0 --device cpu --progress text \
  --cpu-budget "$BUDGET" --out /work/exp6/$NAME.safetensors --init "$INIT" "$@"
python -m IExplainLib.classifier.evaluate /work/exp6/$NAME.safetensors /work/data/heldout-384 /work/data/heldout-real \
  > /work/exp6/$NAME.eval.json
echo "$(date +%T) $NAME done"
