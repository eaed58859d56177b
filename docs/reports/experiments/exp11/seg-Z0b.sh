#!/usr/bin/env bash
# seg-Z0.sh resumed with the pseudo-labels in two shards (one thread each), then the same training and scoring
set -euo pipefail
cd /work/main; source .venv/bin/activate
W=/work/exp11/seg; TRAIN=/work/exp8/seg/train
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for s in 0 1; do
  iexplain pseudo-label $TRAIN -o $W/pseudo --classifier /work/exp6/cand-Z0/demo-classifier.safetensors --shard $s/2 \
    --ig-steps 8 --references zero,blur --smoothgrad-samples 2 --device cpu --progress text 2> $W/pseudo-$s.log &
done
wait
echo "$(date +%T) pseudo-labels done"
/usr/bin/time -f "train cpu_user=%U wall=%e" torchrun --standalone --nproc_per_node 2 -m IExplainLib.cli.main train-segmenter \
  --images $TRAIN --labels $W/pseudo --out $W/seg-Z0.safetensors \
  --filters 4,8,16,32 --patch-size 32,48,48 --inplane-spacing 2.0 --threshold 0.5 \
  --iterations 840 --batch-size 4 --lr 2e-3 --warmup 20 --seed 0 --checkpoint-every 100 --device cpu --overwrite > $W/train.log 2>&1
echo "$(date +%T) segmenter trained"
python - $W/seg-Z0.json <<'PY2'
import json, sys
card = json.load(open(sys.argv[1])); card["explain"] = {"location_filter": "chest", "defect_check": True}
json.dump(card, open(sys.argv[1], "w"), indent=2)
PY2
python docs/reports/segmenter_quality.py $W/seg-Z0.safetensors > $W/quality-Z0.md 2> $W/quality-Z0.log
echo "$(date +%T) done"
