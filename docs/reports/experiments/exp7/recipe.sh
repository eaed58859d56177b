#!/usr/bin/env bash
# Rounds 7-8 of experiment 7, after U1 (run with the variables of Resources/Models/train_demo_classifier.sh).

# Experiment 7 (session 12, docs/reports/experiments.md): S0, T1 and U1, then U1's Stage 2: shipped in session 13, so
# their commands now stand in Resources/Models/train_demo_classifier.sh (block "Session 13"), not here.
# Rounds 7-8 (not part of U1): V0 = the U1 round again from U1; W1 = the same from V0 with --lr 1e-3
# (docs/reports/experiments/exp7/classifier-256-W1.*; the line continues in docs/reports/experiments/exp8/recipe.sh).
env "${NEW_REAL2[@]}" --init "$WORK/exp7-U1.safetensors" --crop 128 --hard-negatives --epochs 5 \
  --samples-per-epoch 19200 --lr 5e-4 --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/exp7-V0.safetensors"
env "${NEW_REAL2[@]}" --init "$WORK/exp7-V0.safetensors" --crop 128 --hard-negatives --epochs 5 \
  --samples-per-epoch 19200 --lr 1e-3 --warmup 20 --cpu-budget 1100 --progress text --out "$WORK/exp7-W1.safetensors"
