#!/usr/bin/env bash
# usage: arm-scratch.sh NAME BACKBONE CPU_SECONDS ARGS...  -- exp6/arm-real2.sh from scratch (no --init) with the
# 256-px line's input: 256 px over a 272-mm field of view, chest region, 7 slices, window 100/700
set -euo pipefail
NAME=$1; BACKBONE=$2; BUDGET=$3; shift 3
exec bash "$(dirname "$0")/../exp6/arm-real2.sh" "$NAME" none "$BUDGET" --backbone "$BACKBONE" --slices 7 \
  --window 100,700 --input-size 256 --field-of-view 272 --region chest "$@"
