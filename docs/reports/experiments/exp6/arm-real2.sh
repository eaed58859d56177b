#!/usr/bin/env bash
# usage: arm-real2.sh NAME INIT CPU_SECONDS ARGS...  -- arm.sh's data plus the second real-anatomy folder (80 real studies);
# INIT none: from scratch. IEXPLAIN_ROOT: the checkout to run (default /work/main), so that experiments can run on a
# frozen copy while the code changes.
set -euo pipefail
NAME=$1; INIT=$2; BUDGET=$3; shift 3
cd "${IEXPLAIN_ROOT:-/work/main}"; source /work/main/.venv/bin/activate; export PYTHONPATH=$PWD
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
/usr/bin/time -f "$NAME cpu_user=%U cpu_sys=%S wall=%e maxrss_kb=%M" iexplain train-classifier \
  /work/data/train-384a /work/data/train-384b /work/data/train-real /work/data/train-real2 --cache /work/cache \
  --batch-size 32 --val-fraction 0.1 --seed 0 --device cpu --progress text \
  --cpu-budget "$BUDGET" --out /work/exp6/$NAME.safetensors $([ "$INIT" = none ] || echo --init "$INIT") "$@"
python -m IExplainLib.classifier.evaluate /work/exp6/$NAME.safetensors /work/data/heldout-384 /work/data/heldout-real \
  > /work/exp6/$NAME.eval.json
echo "$(date +%T) $NAME done"
