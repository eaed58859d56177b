#!/usr/bin/env bash
# Experiment 28: the segmenter with the candidate detector's map as a second input channel (`--guidance candidates`,
# issue 23's artery-aware channel) against the CT alone, one question at equal iterations: experiment 19's recipe
# (30 phantoms, seeds 2000-2029 at 512x512x64, `pseudo-label --method candidates` with the shipped reducer, DynUNet
# 4-8-16-32 on a 2 mm grid, 840 iterations of batch 4, seed 0, the card's chest filter and defect check), trained
# twice on the same pseudo-labels, both scored by docs/reports/segmenter_quality.py on the quality command's sets.
# Usage: docs/reports/experiments/exp28/guidance.sh WORK   (repository root, venv active)
set -euo pipefail
WORK="$1"
[ -f "$WORK/train/dataset.json" ] || iexplain synth "$WORK/train" --studies 30 --seed 2000 --size 512 --slices 64 \
  --layout nifti --progress quiet
[ -f "$WORK/pseudo/dataset.json" ] || iexplain pseudo-label "$WORK/train" -o "$WORK/pseudo" --method candidates \
  --progress quiet
for guidance in none candidates; do
  out="$WORK/seg-$guidance.safetensors"
  /usr/bin/time -f "$guidance: %U s user, %e s wall" env OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 \
    -m IExplainLib.cli.main train-segmenter --images "$WORK/train" --labels "$WORK/pseudo" --out "$out" \
    --filters 4,8,16,32 --patch-size 32,48,48 --inplane-spacing 2.0 --threshold 0.5 --guidance "$guidance" \
    --iterations 840 --batch-size 4 --lr 2e-3 --warmup 20 --seed 0 --checkpoint-every 100 --device cpu --overwrite \
    --progress quiet
  python - "${out%.safetensors}.json" <<'PY'
import json, sys
card = json.load(open(sys.argv[1])); card["explain"] = {"location_filter": "chest", "defect_check": True}
json.dump(card, open(sys.argv[1], "w"), indent=2)
PY
done
python docs/reports/segmenter_quality.py "$WORK/seg-none.safetensors" "$WORK/seg-candidates.safetensors"
