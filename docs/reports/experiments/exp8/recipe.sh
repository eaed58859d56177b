#!/usr/bin/env bash
# Experiment 8 (session 13, docs/reports/experiments.md): both arms from W1 (docs/reports/experiments/exp7/classifier-256-W1.*)
# with W1's round (data of docs/reports/experiments/exp6/arm-real2.sh), 1,100 CPU s each, one thread each.
# X0 = control (was committed here as classifier-256-X0.*, commit 106dff7):
bash docs/reports/experiments/exp6/arm-real2.sh X0-1win docs/reports/experiments/exp7/classifier-256-W1.safetensors 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
# X1 = a second HU window added (first convolution widened, added weights zero). Its two-window cache was prepared
# first, outside the budget, by a one-step run of the same command (--epochs 1 --samples-per-epoch 32, output discarded):
bash docs/reports/experiments/exp6/arm-real2.sh X1-2win docs/reports/experiments/exp7/classifier-256-W1.safetensors 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20 --window 100,700 --window 500,1000
# Experiment 9: both arms from X0 (the control above; its file was replaced here by Z0's, git history keeps it).
# Z0 = control, truth-centred PE patches (committed here as classifier-256-Z0.*, the latest checkpoint):
bash docs/reports/experiments/exp6/arm-real2.sh Z0-truth /work/exp6/X0-1win.safetensors 1100 \
  --crop 128 --hard-negatives --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
# Z1 = PE patches centred where the current network sees the clot (slice labels only):
bash docs/reports/experiments/exp6/arm-real2.sh Z1-evidence /work/exp6/X0-1win.safetensors 1100 \
  --crop 128 --hard-negatives --positive-centres evidence --epochs 5 --samples-per-epoch 19200 --lr 1e-3 --warmup 20
