#!/usr/bin/env bash
# Session 15 runs (docs/reports/experiments.md: experiments 15-16). Data: exp6/arm-real2.sh's folders, made by
# data.sh; the 256-px cache is prepared before the arms so that no arm's CPU budget pays for it.
set -euo pipefail
D=docs/reports/experiments
# Experiment 15: the width of the network, from scratch, side by side (one thread each, 1,100 CPU s each)
bash $D/exp11/arm-scratch.sh AF0-tiny iexplain_efficientnetv2_tiny 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20 &
bash $D/exp11/arm-scratch.sh AF1-wide iexplain_efficientnetv2_wide 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20 &
wait
# Experiment 15, round 2: each arm continued from its round-1 model (does the gap grow with training?), run on a frozen
# checkout (IEXPLAIN_ROOT) while the library was refactored
export IEXPLAIN_ROOT=/work/frozen
bash $D/exp6/arm-real2.sh AG0-tiny2 /work/exp6/AF0-tiny.safetensors 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20 &
bash $D/exp6/arm-real2.sh AG1-wide2 /work/exp6/AF1-wide.safetensors 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20 &
wait
# Experiments 16-17: the bundled segmenter's recipe on the training phantoms' voxel truth, at its own length and at 4x
IEXPLAIN_ROOT=/work/frozen bash $D/exp15/seg-truth.sh seg-truth-840 840
IEXPLAIN_ROOT=/work/frozen bash $D/exp15/seg-truth.sh seg-truth-3360 3360
