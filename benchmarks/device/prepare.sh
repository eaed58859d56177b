#!/usr/bin/env bash
# Download, here (with network), the wheels benchmarks/device/run.sh installs on the lent GPU machine (no network
# there). They land in benchmarks/device/wheels/ (git-ignored; name it in the device call's `carry`).
# The machine runs Python 3.12 (x86-64); all three wheels are pure Python, so the tags below only make pip pick
# wheels that install there. SimpleITK, nibabel, pynrrd, highdicom and slicerio are NOT carried: the reproduce
# command keeps its data in memory and writes only safetensors and JSON, so it never imports them
# (Testing/reproduce/test_reproduce_cli.py runs the dry run with them blocked).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
rm -rf "$here/wheels"
mkdir -p "$here/wheels"
"$python" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$here/wheels" -r "$here/requirements.txt"
du -sh "$here/wheels"
ls -l "$here/wheels"
