#!/usr/bin/env bash
# Prepare, here (with network), what benchmarks/device/run.sh needs on the lent GPU machine (no network there), in two
# git-ignored folders to name in the device call's `carry`:
#   benchmarks/device/wheels/   the wheels the machine lacks. It runs Python 3.12 (x86-64); all three wheels are pure
#                               Python, so the tags below only make pip pick wheels that install there. SimpleITK,
#                               nibabel, pynrrd, highdicom and slicerio are NOT carried: the reproduce command keeps its
#                               data in memory and writes only safetensors and JSON, so it never imports them
#                               (Testing/reproduce/test_reproduce_cli.py runs the dry run with them blocked).
#   benchmarks/device/real-ct/  the POPI chest CT of the quality sets, rewritten losslessly as deflated DICOM
#                               (carry_ct.py: checked voxel for voxel against the original), from REAL_CT (default
#                               ../shared/data/real-ct); run.sh points IEXPLAIN_REAL_CT at it.
# At the end it prints what a device call carries against its 64 MiB.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
default_python=python3
[ -x "$root/.venv/bin/python" ] && default_python="$root/.venv/bin/python"
python="${PYTHON:-$default_python}"
rm -rf "$here/wheels"
mkdir -p "$here/wheels"
"$python" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$here/wheels" -r "$here/requirements.txt"
ls -l "$here/wheels"
PYTHONPATH="$root" "$python" "$here/carry_ct.py" "${REAL_CT:-$root/../shared/data/real-ct}" "$here/real-ct"
tracked=$(cd "$root" && git ls-files -z | xargs -0 cat 2>/dev/null | wc -c)
wheels=$(du -cb "$here"/wheels/* | tail -1 | cut -f1)
ct=0
[ -d "$here/real-ct" ] && ct=$(du -cb "$here"/real-ct | tail -1 | cut -f1)
echo "carried: tracked files $tracked + wheels $wheels + real CT $ct = $((tracked + wheels + ct)) bytes" \
  "(limit 67108864, 64 MiB; $((67108864 - tracked - wheels - ct)) left)"
