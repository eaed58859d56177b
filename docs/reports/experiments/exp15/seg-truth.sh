#!/usr/bin/env bash
# usage: seg-truth.sh NAME ITERATIONS  -- experiments 16-17: the bundled segmenter's recipe (train_demo_segmenter.sh:
# 30 phantoms at 256 px, seeds 2000-2029, DynUNet 4-8-16-32 on a 2 mm grid, batch 4 on 2 processes) trained on the
# phantoms' voxel truth instead of pseudo-labels, then scored on the quality sets (segmenter_quality.py).
# IEXPLAIN_ROOT: the checkout to run (default /work/main), so experiments can run on a frozen copy.
set -euo pipefail
NAME=$1; ITERATIONS=$2
ROOT=${IEXPLAIN_ROOT:-/work/main}; W=/work/exp16; TRAIN=$W/train
cd "$ROOT"; source /work/main/.venv/bin/activate; export PYTHONPATH=$ROOT OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
[ -f $TRAIN/dataset.json ] || iexplain synth $TRAIN --studies 30 --seed 2000 --size 256 --slices 48 --layout nifti --progress quiet
/usr/bin/time -f "$NAME cpu_user=%U cpu_sys=%S wall=%e" torchrun --standalone --nproc_per_node 2 -m IExplainLib.cli.main \
  train-segmenter --images $TRAIN --out $W/$NAME.safetensors \
  --filters 4,8,16,32 --patch-size 32,48,48 --inplane-spacing 2.0 --threshold 0.5 \
  --iterations "$ITERATIONS" --batch-size 4 --lr 2e-3 --warmup 20 --seed 0 --checkpoint-every 100 --device cpu \
  --overwrite > $W/$NAME.train.log 2>&1
python - $W/$NAME.json <<'PY'
import json, sys
card = json.load(open(sys.argv[1])); card["explain"] = {"location_filter": "chest", "defect_check": True}
json.dump(card, open(sys.argv[1], "w"), indent=2)
PY
python docs/reports/segmenter_quality.py $W/$NAME.safetensors > $W/$NAME.quality.md 2> $W/$NAME.quality.log
echo "$(date +%T) $NAME done"
