#!/usr/bin/env bash
# Recreates Resources/Models/demo-segmenter.safetensors (+ .json card): the bundled Stage 3 demo segmenter.
#
# Training data: 24 synthetic CTPA phantoms, seeds 100-123, 192x192x64 (seeds >= 9000 are held out for evaluation).
# Labels: the phantoms' voxel TRUTH, not iExplain pseudo-labels: the bundled demo classifier (needed to make the
# pseudo-labels) did not exist yet when this model had to be trained. `iexplain segmenter-report` is the
# pseudo-label experiment. Network: DynUNet filters 4,8,16,32 on a 2 mm in-plane grid, 32x48x48 (z,y,x) patches
# (small enough for a 512x512x300 study in under 2 minutes on 2 CPU cores); CPU only, two torchrun processes with
# one thread each (gloo DDP), about 10 minutes in all. A deliberately short schedule: the project's
# machines have no GPU; the paper trains 50k iterations of batch 32.
# Usage: Resources/Models/train_demo_segmenter.sh [WORK_DIR]   (run from the repository root, venv active)
set -euo pipefail
WORK="${1:-/tmp/iexplain-demo-seg}"
OUT=Resources/Models/demo-segmenter.safetensors

iexplain synth "$WORK/train" --studies 24 --seed 100 --layout nifti --size 192 --slices 64
OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m IExplainLib.cli.main train-segmenter \
  --images "$WORK/train" --out "$WORK/stage-a.safetensors" \
  --filters 4,8,16,32 --patch-size 32,48,48 --inplane-spacing 2.0 --threshold 0.5 \
  --iterations 240 --batch-size 4 --lr 2e-3 --warmup 15 --seed 0 --checkpoint-every 40 --device cpu
# second phase: the same data, continued from the first phase with a new warmup/decay cycle
OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 -m IExplainLib.cli.main finetune \
  --from "$WORK/stage-a.safetensors" --data "$WORK/train" --out "$OUT" \
  --iterations 600 --batch-size 4 --lr 1e-3 --warmup 10 --seed 1 --checkpoint-every 100 --device cpu

# Held-out evaluation (seeds >= 9000, never trained on): finding-level F1 at the card's threshold.
iexplain synth "$WORK/heldout" --studies 3 --seed 9300 --layout nifti --size 128 --slices 40
python -m IExplainLib.segmenter.evaluate_model "$OUT" "$WORK/heldout"
