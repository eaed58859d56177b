#!/usr/bin/env bash
# One prepared run of `iexplain reproduce --device cuda` on a lent GPU machine (one H200; see docs/reproduce.md).
#
#   here, once:   bash benchmarks/device/prepare.sh          # the wheels the machine lacks, ~4.4 MB, and the
#                                                            # POPI CT deflated losslessly, ~38.4 MB
#   device call:  command  "bash benchmarks/device/run.sh"
#                 carry    ["benchmarks/device/wheels", "benchmarks/device/real-ct"]
#                 timeout_s 570
#
# Budget: MINUTES (default 6.5) for the reproduce run itself, inside 8 minutes of run time with the wheel install,
# imports and copying; a hard `timeout` stops it 45 s past its budget whatever happens. Everything goes to a log
# under $OUT. At most 8 files of at most 16 MiB each, 64 MiB in all, come back from $OUT, so the run writes into
# /tmp and copies back 8 at most:
#   run.log            this log
#   reproduce.md       the report (phases, figures, the held-out table, which weights came back, and last the
#                      decision: bundled vs new per model and quality set, "ship" or "keep" per model)
#   reports.tar.gz     reproduce.json, quality.json, quality.md, bench.json
#   models.parts.json  the manifest of the model parts (every part's and file's sha256)
#   models.part01..04  every model card, and the weights of as many models as fit the bytes left (64 MiB less the
#                      files above and 512 KiB for the log still growing), in the order classifier, reducer,
#                      wsl-segmenter, finetuned-from-wsl, random-init; bf16 copies (IExplainLib/model_parts.py)
#                      where the float32 file does not fit. Here: iexplain join-parts models.parts.json -o DIR
#                      (docs/reproduce.md, "Shipping the models").
# Extra arguments go to `iexplain reproduce` (e.g. --backbone tf_efficientnetv2_l --input-size 512; --dry-plan prints
# the sizes, the weights that come back and the seconds per phase without running). Off the GPU,
# DEVICE=cpu MINUTES=1.5 bash benchmarks/device/run.sh --scale toy checks the script itself (torch single-threaded).
set -uo pipefail
export PYTHONUNBUFFERED=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
OUT="${OUT:-$root/device-out}"
MINUTES="${MINUTES:-6.5}"
RUN="${RUN_DIR:-/tmp/iexplain-reproduce}"
mkdir -p "$OUT"
# this script's own result files of an earlier run in the same $OUT (off the device) would count against the 8
rm -f "$OUT"/{reproduce,quality}.{json,md} "$OUT"/bench.json "$OUT"/{models,reports}.tar.gz "$OUT"/models.parts.json \
  "$OUT"/models.part[0-9][0-9]
log="$OUT/run.log"
python="${PYTHON:-python3}"
# off the GPU (the self-check on a few shared cores) one torch thread each is faster than oversubscribed threads
[ "${DEVICE:-cuda}" = cpu ] && export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"

main() {
  echo "== $(date -u +%FT%TZ) iexplain reproduce on $(hostname), $MINUTES min"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
  if ls "$here"/wheels/*.whl >/dev/null 2>&1; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      "$here"/wheels/*.whl || { echo "wheel install failed"; return 3; }
    export PYTHONPATH="/tmp/site:$root${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "no wheels in $here/wheels (run benchmarks/device/prepare.sh here and carry that folder)"
    export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
  fi
  if [ -d "$here/real-ct/popi_4dct_phase00_chest_ct" ]; then
    export IEXPLAIN_REAL_CT="${IEXPLAIN_REAL_CT:-$here/real-ct}"  # the quality sets on the real CT run too
  fi
  echo "real CT: ${IEXPLAIN_REAL_CT:-none carried (the real-CT quality sets are skipped unless ../shared has it)}"
  cd "$root" || return 3
  "$python" - <<'PY' || return 3
import sys, torch, timm, monai, captum, pydicom, numpy, scipy, safetensors
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "timm", timm.__version__, "monai", monai.__version__, "captum", captum.__version__, "numpy", numpy.__version__)
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NONE")
PY
  local limit
  limit=$("$python" -c "print(int(float('$MINUTES') * 60 + 45))")
  timeout --signal=INT --kill-after=15 "$limit" "$python" -m IExplainLib.cli.main reproduce "$RUN" --device "${DEVICE:-cuda}" \
    --minutes "$MINUTES" --overwrite "$@"
  local rc=$?
  echo "== reproduce exit code $rc at $(date -u +%FT%TZ)"
  [ -f "$RUN/reproduce.md" ] && cp "$RUN/reproduce.md" "$OUT/reproduce.md"
  local reports=() name
  for name in reproduce.json quality.json quality.md bench.json; do
    [ -f "$RUN/$name" ] && reports+=("$name")
  done
  [ ${#reports[@]} -gt 0 ] && tar -C "$RUN" -czf "$OUT/reports.tar.gz" "${reports[@]}"
  if ls "$RUN"/models/*.json >/dev/null 2>&1; then
    # 4 of the 8 result files are run.log, reproduce.md, reports.tar.gz and the manifest: 4 parts at most
    "$python" - "$RUN/models" "$OUT" <<'PY' || echo "packing the models failed: no weights come back"
import sys
from pathlib import Path
from IExplainLib.model_parts import MIB, pack_models
models, out = Path(sys.argv[1]), Path(sys.argv[2])
used = sum(path.stat().st_size for path in out.iterdir() if path.is_file())
budget = 64 * MIB - used - 512 * 1024 - 64 * 1024  # the log still growing, the manifest
summary = pack_models(models, out, max_bytes=budget, max_parts=4, part_mib=16, work_dir="/tmp/iexplain-bf16")
lines = [f"- {stem}: weights back ({form})" for stem, form in summary["shipped"].items()]
lines += [f"- {stem}: weights left on the machine (no room in 64 MiB; its card comes back)" for stem in summary["left"]]
print("\n".join(lines))
# the report says which weights came back, just before its closing decision (which stays last)
report = out / "reproduce.md"
if report.is_file():
    text, mark = report.read_text(), "## Decision: bundled vs new"
    section = "## Weights brought back (models.part*, iexplain join-parts)\n\n" + "\n".join(lines) + "\n\n"
    report.write_text(text.replace(mark, section + mark) if mark in text else text + "\n" + section)
PY
  fi
  ls -l "$RUN/models" "$OUT" 2>/dev/null
  local count bytes
  count=$(find "$OUT" -maxdepth 1 -type f | wc -l)
  bytes=$(du -cb "$OUT"/* | tail -1 | cut -f1)
  echo "== $count result files, $bytes bytes (limits: 8 files, 16 MiB each, 67108864 bytes)"
  return $rc
}

main "$@" 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
