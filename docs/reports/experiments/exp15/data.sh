#!/usr/bin/env bash
# The folders of exp6/arm-real2.sh and the held-out sets (seeds as in Resources/Models/train_demo_classifier.sh),
# then the 256-px prepared-study cache (two warm-up runs of one step, their models thrown away).
set -euo pipefail
cd /work/main; export OMP_NUM_THREADS=1
R=/work/shared/data/real-ct/popi_4dct_phase00_chest_ct; B=.venv/bin/iexplain
$B synth /work/data/heldout-384 --studies 30 --seed 9000 --size 384 --slices 48 --layout nifti --progress quiet
$B synth /work/data/heldout-real --studies 12 --seed 9200 --slices 48 --layout nifti --anatomy $R --progress quiet
$B synth /work/data/train-384a --studies 80 --seed 2000 --size 384 --slices 48 --layout nifti --progress quiet
$B synth /work/data/train-384b --studies 80 --seed 2080 --size 384 --slices 48 --layout nifti --progress quiet
$B synth /work/data/train-real --studies 40 --seed 1500 --slices 48 --layout nifti --anatomy $R --progress quiet
$B synth /work/data/train-real2 --studies 40 --seed 3500 --slices 48 --layout nifti --anatomy $R --progress quiet
for pair in "384a 384b" "real real2"; do
  set -- $pair
  $B train-classifier /work/data/train-$1 /work/data/train-$2 --cache /work/cache --batch-size 32 --val-fraction 0.1 \
    --seed 0 --device cpu --progress quiet --cpu-budget 1 --out /tmp/warm-$1.safetensors --slices 7 --window 100,700 \
    --input-size 256 --field-of-view 272 --region chest --crop 128 --hard-negatives
done
