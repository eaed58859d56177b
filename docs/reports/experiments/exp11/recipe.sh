#!/usr/bin/env bash
# Session 14 runs (docs/reports/experiments.md: round 9, experiments 11-13), data of exp6/arm-real2.sh, 1,100 CPU s each.
set -euo pipefail
D=docs/reports/experiments
# Round 9: Z0's round again (truth-centred)
bash $D/exp6/arm-real2.sh AA0-truth $D/exp8/classifier-256-Z0.safetensors 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
# Experiment 11: network shape from scratch
bash $D/exp11/arm-scratch.sh AB0-tiny iexplain_efficientnetv2_tiny 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
bash $D/exp11/arm-scratch.sh AB1-mnv3s100 mobilenetv3_small_100 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
# Experiment 12: network-centred PE patches, second and third rounds (from Z1 of experiment 9, /work/exp6/Z1-evidence)
bash $D/exp6/arm-real2.sh AC1-evidence2 /work/exp6/Z1-evidence.safetensors 1100 \
  --crop 128 --hard-negatives --positive-centres evidence --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
bash $D/exp6/arm-real2.sh AD1-evidence3 /work/exp6/AC1-evidence2.safetensors 1100 \
  --crop 128 --hard-negatives --positive-centres evidence --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
# Experiment 13: image (HU) centred PE patches from scratch
bash $D/exp11/arm-scratch.sh AB2-image iexplain_efficientnetv2_tiny 1100 \
  --crop 128 --hard-negatives --positive-centres image --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
# Experiment 13, round 2 from AB2: image centres again, or network centres after the image-centred start
bash $D/exp6/arm-real2.sh AE0-image2 /work/exp6/AB2-image.safetensors 1100 \
  --crop 128 --hard-negatives --positive-centres image --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
bash $D/exp6/arm-real2.sh AE1-evidence-after-image /work/exp6/AB2-image.safetensors 1100 \
  --crop 128 --hard-negatives --positive-centres evidence --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
