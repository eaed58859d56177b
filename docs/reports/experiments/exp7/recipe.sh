#!/usr/bin/env bash
# Appended to Resources/Models/train_demo_classifier.sh (same WORK, REAL_CT, NEW, OUT) when this line is shipped;
# until then it is the record of how docs/reports/experiments/exp7/classifier-256-U1.safetensors was made from R.

# Experiment 7 (session 12, docs/reports/experiments.md): one more 96-px round at 192 px (S0), then 128-px patches at
# 256 px over the same 272 mm (1.06 mm pixels: T1), then one 256-px round with a second real-anatomy folder (U1).
# Each phase ends on 1,100 s of process CPU time and starts from the previous phase's model.
iexplain synth "$WORK/train-real2" --studies 40 --seed 3500 --slices 48 --layout nifti --anatomy "$REAL_CT"
NEW_REAL2=(OMP_NUM_THREADS=1 iexplain train-classifier "$WORK/train-384a" "$WORK/train-384b" "$WORK/real-anatomy"
  "$WORK/train-real2" --cache "$WORK/cache-384" --batch-size 32 --val-fraction 0.1 --seed 0 --device cpu)
env "${NEW[@]}" --init "$OUT" --crop 96 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 5e-4 \
  --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/exp7-S0.safetensors"
env "${NEW[@]}" --init "$WORK/exp7-S0.safetensors" --input-size 256 --crop 128 --hard-negatives --epochs 5 \
  --samples-per-epoch 19200 --lr 5e-4 --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/exp7-T1.safetensors"
env "${NEW_REAL2[@]}" --init "$WORK/exp7-T1.safetensors" --crop 128 --hard-negatives --epochs 5 \
  --samples-per-epoch 19200 --lr 5e-4 --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/exp7-U1.safetensors"
cp "$WORK/exp7-U1.safetensors" "$OUT" && cp "$WORK/exp7-U1.json" "${OUT%.safetensors}.json"
# Stage 2, tuning seeds only (docs/reports/experiments/exp6/candidate.sh with MAX_SHARE=0.5): the classifier threshold
# at slice sensitivity 0.8, raised until at most half of the negative tuning slices lie above it (a 256-px classifier
# explains each positive window at 1.8x the cost: the bound keeps detect on a CPU within 3 minutes), then h from the
# sweep below.
T=$(python docs/reports/slice_threshold.py "$OUT" 0.8 "$WORK/tuning-384" "$WORK/tuning-real" --max-negative-share 0.5 |
    python -c "import json,sys;print(round(json.load(sys.stdin)['threshold'],3))")
python - "$OUT" "$T" <<'PY'
import json, sys
card = sys.argv[1].replace(".safetensors", ".json")
data = json.load(open(card))
data.setdefault("explain", {}).update(classifier_threshold=float(sys.argv[2]), location_filter="chest",
                                      defect_check=True, defect_search_mm=6.0, max_iterations=4)
json.dump(data, open(card, "w"), indent=2)
PY
iexplain tune-threshold --phantoms 8 --seed 8000 --phantom-size 384 --real-anatomy "$REAL_CT" --real-anatomy-count 2 \
  --classifier "$OUT" --ig-steps 8 --references zero,blur --smoothgrad-samples 2 \
  --grid 0.75,1,1.5,2,3,4,5.25,7.5 --target-sensitivity 0.9 -o docs/reports/tuning/tuning.json --overwrite
H=$(python -c "
import json; d=json.load(open('docs/reports/tuning/tuning.json'))
print(max(d['sweep'], key=lambda r: (r['filtered']['f1'] or 0, r['high_threshold']))['high_threshold'])")
python - "$OUT" "$H" <<'PY'
import json, sys
card = sys.argv[1].replace(".safetensors", ".json")
data = json.load(open(card))
data["explain"]["high_threshold"] = float(sys.argv[2])
json.dump(data, open(card, "w"), indent=2)
PY
iexplain quality --json docs/reports/quality/bundled.json --markdown docs/reports/quality/bundled.md --overwrite
# Rounds 7-8 (not part of U1): V0 = the U1 round again from U1; W1 = the same from V0 with --lr 1e-3
# (docs/reports/experiments/exp7/classifier-256-W1.*, the latest checkpoint of the line).
env "${NEW_REAL2[@]}" --init "$WORK/exp7-U1.safetensors" --crop 128 --hard-negatives --epochs 5 \
  --samples-per-epoch 19200 --lr 5e-4 --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/exp7-V0.safetensors"
env "${NEW_REAL2[@]}" --init "$WORK/exp7-V0.safetensors" --crop 128 --hard-negatives --epochs 5 \
  --samples-per-epoch 19200 --lr 1e-3 --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/exp7-W1.safetensors"
