#!/usr/bin/env bash
# usage: [THREADS=N] [MAX_SHARE=X] [MAX_ITER=K] candidate.sh MODEL NAME -- Stage 2 settings for a classifier (tuning seeds only; MAX_SHARE bounds the share of negative tuning slices explained, MAX_ITER the iterations, default 4), then the quality command
set -euo pipefail
MODEL=$1; NAME=$2; C=/work/exp6/cand-$NAME
cd /work/main; source .venv/bin/activate; export OMP_NUM_THREADS=${THREADS:-1}
mkdir -p $C; cp "$MODEL" $C/demo-classifier.safetensors; cp "${MODEL%.safetensors}.json" $C/demo-classifier.json
T=$(python docs/reports/slice_threshold.py $C/demo-classifier.safetensors 0.8 /work/data/tuning-384 /work/data/tuning-real ${MAX_SHARE:+--max-negative-share $MAX_SHARE} | tee $C/slice-threshold.json | python -c "import json,sys;print(round(json.load(sys.stdin)['threshold'],3))")
echo "$(date +%T) classifier threshold $T"
python - $C/demo-classifier.json $T ${MAX_ITER:-4} <<'PY'
import json, sys
card = json.load(open(sys.argv[1])); card.setdefault("explain", {})
card["explain"].update(classifier_threshold=float(sys.argv[2]), location_filter="chest", defect_check=True, defect_search_mm=6.0, max_iterations=int(sys.argv[3]))
json.dump(card, open(sys.argv[1], "w"), indent=2)
PY
/usr/bin/time -f "tune wall=%e" iexplain tune-threshold --phantoms 8 --seed 8000 --phantom-size 384 \
  --real-anatomy /work/shared/data/real-ct/popi_4dct_phase00_chest_ct --real-anatomy-count 2 \
  --classifier $C/demo-classifier.safetensors --ig-steps 8 --references zero,blur --smoothgrad-samples 2 \
  --grid 0.75,1,1.5,2,3,4,5.25,7.5 --target-sensitivity 0.9 -o $C/tuning.json --overwrite --progress quiet 2>&1 | tail -n 12
H=$(python -c "
import json; d=json.load(open('$C/tuning.json'))
best=max(d['sweep'], key=lambda r: (r['filtered']['f1'] or 0, r['high_threshold'])); print(best['high_threshold'])")
echo "$(date +%T) h (best filtered F1 on the tuning seeds) $H"
python - $C/demo-classifier.json $H <<'PY'
import json, sys
card = json.load(open(sys.argv[1])); card["explain"]["high_threshold"] = float(sys.argv[2])
json.dump(card, open(sys.argv[1], "w"), indent=2)
PY
/usr/bin/time -f "quality wall=%e" iexplain quality --classifier $C/demo-classifier.safetensors --json $C/quality.json \
  --markdown $C/quality.md --overwrite --progress text > $C/quality.out 2> $C/quality.log
echo "$(date +%T) candidate $NAME done"
