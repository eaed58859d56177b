#!/usr/bin/env bash
# Recreates Resources/Models/demo-classifier.safetensors (+ .json card): the bundled Stage 1 demo classifier.
#
# Training data: synthetic CTPA phantoms with seeds 1000-1539 only (seeds >= 9000 are held out for evaluation):
# 150 phantoms at 128x128, 60 at 256x256 (the size `iexplain demo` uses) and 40 real-anatomy phantoms (contrast and
# clots inserted into the POPI chest CT of the shared real-CT folder), 48 slices each.
# Training: CPU only, two torchrun processes with one thread each (gloo DDP; faster than one two-thread process on
# a busy 2-core machine), 7 slices in the (100, 700) HU window resampled to 128x128, global max pooling.
# Usage: Resources/Models/train_demo_classifier.sh [WORK_DIR]   (run from the repository root, venv active)
set -euo pipefail
WORK="${1:-/tmp/iexplain-demo-clf}"
REAL_CT="${IEXPLAIN_REAL_CT:-../shared/data/real-ct}/popi_4dct_phase00_chest_ct"
OUT=Resources/Models/demo-classifier.safetensors

iexplain synth "$WORK/phantoms-128" --studies 150 --seed 1000 --size 128 --slices 48 --layout nifti
iexplain synth "$WORK/phantoms-256" --studies 60 --seed 1200 --size 256 --slices 48 --layout nifti
iexplain synth "$WORK/real-anatomy" --studies 40 --seed 1500 --slices 48 --layout nifti --anatomy "$REAL_CT"

# Phase 1: 64x64 training patches (--crop): around labelled emboli on PE slices, around vessels or anywhere
# elsewhere; it teaches *what* an embolus looks like. Phase 2 trains on whole 128x128 slices for two more epochs at
# the rest of phase 1's schedule (21% of the peak rate, decaying to 1e-7): max pooling over a whole slice sees more
# evidence for and against than over a patch, so the head is recalibrated on what inference sees.
# Validation always scores whole slices. A killed phase started again with the same command continues from its last
# checkpoint (a checkpoint of other settings is refused unless --restart).
# The shipped round 0 was made before session 16, when phase 2 resumed phase 1's checkpoint with these other settings
# (the schedule recomputed for 10 epochs); the trainers now refuse that, and --init with the remaining schedule is
# its equivalent but for AdamW's moments, which start afresh.
TRAIN=(OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m IExplainLib.cli.main train-classifier
  "$WORK/phantoms-128" "$WORK/phantoms-256" "$WORK/real-anatomy" --cache "$WORK/cache"
  --batch-size 32 --samples-per-epoch 9600 --val-fraction 0.1 --seed 0 --device cpu --checkpoint-every 50)
SPEC=(--input-size 128 --slices 7 --window 100,700)
env "${TRAIN[@]}" "${SPEC[@]}" --out "$WORK/round-0-patches.safetensors" --lr 2e-3 --warmup 60 --crop 64 --epochs 8
env "${TRAIN[@]}" --init "$WORK/round-0-patches.safetensors" --out "$WORK/round-0.safetensors" --lr 4.2e-4 \
  --warmup 0 --crop 0 --epochs 2

# Rounds of hard-negative mining (see docs/classifier.md): max pooling lets one clot-like place anywhere in a negative
# slice (a vertebra's cortex around its marrow, a rib, an unopacified artery) decide the slice. Each round: patches
# with half of the negatives centred where the current network sees the most PE evidence (re-mined every epoch),
# then whole slices again; --init starts each phase from the previous weights (same --seed: same validation studies).
PREVIOUS="$WORK/round-0.safetensors"
for ROUND in 1 2 3; do
  PATCH_EPOCHS=$([ "$ROUND" = 1 ] && echo 6 || echo 10)
  WHOLE_EPOCHS=$([ "$ROUND" = 1 ] && echo 4 || echo 6)
  env "${TRAIN[@]}" --out "$WORK/round-$ROUND-patches.safetensors" --init "$PREVIOUS" --crop 64 --hard-negatives \
    --epochs "$PATCH_EPOCHS" --lr 1e-3 --warmup 30
  env "${TRAIN[@]}" --out "$WORK/round-$ROUND.safetensors" --init "$WORK/round-$ROUND-patches.safetensors" --crop 0 \
    --epochs "$WHOLE_EPOCHS" --lr 5e-4 --warmup 20
  PREVIOUS="$WORK/round-$ROUND.safetensors"
done

# Phases of issue 10 (docs/reports/experiments.md, experiments 1 and 2): new training data at finer pixels, the chest
# region (everything outside lungs + mediastinum, and all bone, set to 0: --region chest), one whole-slice phase with
# slice labels only, then one more mining round (truth-centred positive patches, mined negatives). One thread each.
iexplain synth "$WORK/train-384a" --studies 80 --seed 2000 --size 384 --slices 48 --layout nifti
iexplain synth "$WORK/train-384b" --studies 80 --seed 2080 --size 384 --slices 48 --layout nifti
NEW=(OMP_NUM_THREADS=1 iexplain train-classifier "$WORK/train-384a" "$WORK/train-384b" "$WORK/real-anatomy"
  --cache "$WORK/cache-384" --batch-size 32 --samples-per-epoch 9600 --val-fraction 0.1 --seed 0 --device cpu)
env "${NEW[@]}" --init "$PREVIOUS" --region chest --crop 0 --epochs 3 --lr 5e-4 --warmup 20 --out "$WORK/chest.safetensors"
env "${NEW[@]}" --init "$WORK/chest.safetensors" --crop 64 --hard-negatives --epochs 3 --lr 1e-3 --warmup 30 \
  --out "$WORK/chest-mined-patches.safetensors"
env "${NEW[@]}" --init "$WORK/chest-mined-patches.safetensors" --crop 0 --epochs 1 --lr 5e-4 --warmup 20 \
  --out "$WORK/chest-mined.safetensors"
PREVIOUS="$WORK/chest-mined.safetensors"
cp "$PREVIOUS" "$OUT" && cp "${PREVIOUS%.safetensors}.json" "${OUT%.safetensors}.json"

# Held-out evaluation (seeds >= 9000, never trained on): slice AUROC / F1 at the card's threshold.
iexplain synth "$WORK/heldout-384" --studies 30 --seed 9000 --size 384 --slices 48 --layout nifti
iexplain synth "$WORK/heldout-real" --studies 12 --seed 9200 --slices 48 --layout nifti --anatomy "$REAL_CT"
python -m IExplainLib.classifier.evaluate "$OUT" "$WORK/heldout-384" "$WORK/heldout-real"
iexplain quality --json docs/reports/quality/bundled.json --markdown docs/reports/quality/bundled.md --overwrite

# Stage 2 settings of the bundled card (tuning seeds 8000-8009 only): classifier threshold 0.30 (slice sensitivity
# 0.8 on those studies; the card's F1-optimal 0.73 left 76% of emboli unexplained), h swept with the IG settings of
# `iexplain demo`; h = 4 is the sweep's best filtered F1 (the tuner's own rule, the most sensitive h when 0.9 is not
# reached, picked 2); the chest location filter and the defect check (docs/explain.md) on.
iexplain tune-threshold --phantoms 8 --seed 8000 --phantom-size 384 --real-anatomy "$REAL_CT" --real-anatomy-count 2 \
  --classifier "$OUT" --ig-steps 8 --references zero,blur --smoothgrad-samples 2 --classifier-threshold 0.3 \
  --grid 2,3,4,5.25,7.5,10.5,15,21 --target-sensitivity 0.9 -o docs/reports/tuning/tuning.json --overwrite
python - "$OUT" <<'PY'
import json, sys
card = sys.argv[1].replace(".safetensors", ".json")
data = json.load(open(card))
data["explain"].update(high_threshold=4.0, classifier_threshold=0.3, location_filter="chest", defect_check=True,
                       max_iterations=4)
json.dump(data, open(card, "w"), indent=2)
PY

# Experiment 5 (docs/reports/experiments.md): from chest-mined (D), 192 px over the central 272 mm (1.42 mm pixels),
# whole slices with slice labels only, three phases of 3 epochs, each from the previous phase's model.
PREVIOUS="$WORK/chest-mined.safetensors"
for PHASE in 1 2 3; do
  FINER=$([ "$PHASE" = 1 ] && echo "--input-size 192 --field-of-view 272" || echo "")
  # shellcheck disable=SC2086
  env "${NEW[@]}" --init "$PREVIOUS" $FINER --crop 0 --epochs 3 --lr 5e-4 --warmup 20 --checkpoint-every 100 \
    --out "$WORK/fine-$PHASE.safetensors"
  PREVIOUS="$WORK/fine-$PHASE.safetensors"
done
cp "$PREVIOUS" "$OUT" && cp "${PREVIOUS%.safetensors}.json" "${OUT%.safetensors}.json"

# Its Stage 2 settings, tuning seeds only: classifier threshold at slice sensitivity 0.8 (0.367), h with the best
# filtered F1 of the sweep (7.5), the defect search radius with the best F1 of 0 / 3 / 6 mm (6; the segmenter's card
# takes the same CT filters).
iexplain synth "$WORK/tuning-384" --studies 8 --seed 8000 --size 384 --slices 48 --layout nifti
iexplain synth "$WORK/tuning-real" --studies 2 --seed 8008 --slices 48 --layout nifti --anatomy "$REAL_CT"
python docs/reports/slice_threshold.py "$OUT" 0.8 "$WORK/tuning-384" "$WORK/tuning-real"
python - "$OUT" 0.367 <<'PY'
import json, sys
card = sys.argv[1].replace(".safetensors", ".json")
data = json.load(open(card))
data["explain"].update(classifier_threshold=float(sys.argv[2]), location_filter="chest", defect_check=True,
                       max_iterations=4)
json.dump(data, open(card, "w"), indent=2)
PY
iexplain tune-threshold --phantoms 8 --seed 8000 --phantom-size 384 --real-anatomy "$REAL_CT" --real-anatomy-count 2 \
  --classifier "$OUT" --ig-steps 8 --references zero,blur --smoothgrad-samples 2 \
  --grid 2,3,4,5.25,7.5,10.5,15 --target-sensitivity 0.9 -o docs/reports/tuning/tuning.json --overwrite
python docs/reports/filters_eval.py "$OUT" 8 384 2 7.5 docs/reports/tuning/filters_search.json
python - "$OUT" <<'PY'
import json, sys
card = sys.argv[1].replace(".safetensors", ".json")
data = json.load(open(card))
data["explain"].update(high_threshold=7.5, defect_search_mm=6.0)
json.dump(data, open(card, "w"), indent=2)
PY
iexplain quality --json docs/reports/quality/bundled.json --markdown docs/reports/quality/bundled.md --overwrite

# Experiment 6 (session 11, docs/reports/experiments.md): from H phase 3 (the model above), three rounds of 96-px
# patches at 192 px with hard-negative mining (truth-centred positive patches), each ended by 1,100 s of process
# CPU time and started from the previous round's model (each round draws its own samples: draw_phase in the card).
# The experiment's folder for the real-anatomy phantoms was named train-real (the split of validation studies depends
# on the names).
PREVIOUS="$OUT"
for ROUND in 1 2 3; do
  env "${NEW[@]}" --init "$PREVIOUS" --crop 96 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 5e-4 \
    --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/patch96-$ROUND.safetensors"
  PREVIOUS="$WORK/patch96-$ROUND.safetensors"
done
cp "$PREVIOUS" "$OUT" && cp "${PREVIOUS%.safetensors}.json" "${OUT%.safetensors}.json"
# Its Stage 2 settings, tuning seeds only (docs/reports/experiments/exp6/candidate.sh): classifier threshold at slice sensitivity 0.8,
# then h with the best filtered F1 of the sweep; the CT filters as before (chest, defect check, 6 mm search).
# stage2 SLICE_THRESHOLD_OPTIONS H_GRID MAX_ITERATIONS: Stage 2 settings of "$OUT" into its card, then the quality report
stage2() {
  local T H
  T=$(python docs/reports/slice_threshold.py "$OUT" 0.8 "$WORK/tuning-384" "$WORK/tuning-real" $1 |
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
    --grid "$2" --target-sensitivity 0.9 -o docs/reports/tuning/tuning.json --overwrite
  H=$(python -c "
import json; d=json.load(open('docs/reports/tuning/tuning.json'))
print(max(d['sweep'], key=lambda r: (r['filtered']['f1'] or 0, r['high_threshold']))['high_threshold'])")
  python - "$OUT" "$H" "$3" <<'PY'
import json, sys
card = sys.argv[1].replace(".safetensors", ".json")
data = json.load(open(card))
data["explain"].update(high_threshold=float(sys.argv[2]), max_iterations=int(sys.argv[3]))
json.dump(data, open(card, "w"), indent=2)
PY
  iexplain quality --json docs/reports/quality/bundled.json --markdown docs/reports/quality/bundled.md --overwrite
}
stage2 "" 2,3,4,5.25,7.5,10.5,15 4

# ---- Session 13: experiment 7's line replaces R (docs/reports/experiments.md, experiment 7 and "U1 shipped") ----
# One more 96-px round at 192 px (S0), 128-px patches at 256 px over the same 272 mm (1.06 mm pixels: T1), then one
# 256-px round with a second real-anatomy folder (U1). Each phase ends on 1,100 s of process CPU time.
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
# Stage 2, tuning seeds only: at most half of the negative tuning slices explained (a 256-px classifier costs 1.8x per
# IG pass), h from the sweep, then at most 2 iterations so that detect --preset fast fits 3 minutes on 2 CPU threads.
stage2 "--max-negative-share 0.5" 0.75,1,1.5,2,3,4,5.25,7.5 2
