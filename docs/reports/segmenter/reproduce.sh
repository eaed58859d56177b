#!/usr/bin/env bash
# Reproduces docs/reports/segmenter/ (the phantom analogue of the paper's Tables 4 and 5), about 10 min on 2 CPU cores.
# Run from the repository root with the venv; needs the bundled demo classifier for the pseudo-labels.
set -euo pipefail
W="${1:-/tmp/segrep}"  # work folder
iexplain synth $W/train --studies 30 --seed 2000 --size 256 --slices 48 --layout nifti --progress quiet --overwrite
iexplain synth $W/test --studies 8 --seed 9500 --size 256 --slices 48 --layout nifti --progress quiet --overwrite
iexplain synth $W/corrected --studies 6 --seed 3000 --size 256 --slices 48 --layout nifti --progress quiet --overwrite
iexplain pseudo-label $W/train -o $W/pseudo --ig-steps 8 --references zero,blur --smoothgrad-samples 2 --device cpu --progress quiet
iexplain segmenter-report --train $W/train --pseudo-labels $W/pseudo --test $W/test --corrected $W/corrected --out $W/report \
  --filters 4,8,16,32 --patch-size 32,48,48 --inplane-spacing 2.0 --iterations 600 --batch-size 4 --lr 2e-3 --warmup 20 \
  --finetune-iterations 200 --finetune-warmup 10 --device cpu --threads 2 --progress text --overwrite
