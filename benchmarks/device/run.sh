#!/usr/bin/env bash
# One prepared run of `iexplain reproduce --device cuda` on a lent GPU machine (one H200; see docs/reproduce.md).
#
#   here, once:   bash benchmarks/device/prepare.sh          # the wheels the machine lacks, ~4.4 MB
#   device call:  command  "bash benchmarks/device/run.sh"
#                 carry    ["benchmarks/device/wheels"]
#                 timeout_s 570
#
# Budget: MINUTES (default 6.5) for the reproduce run itself, inside 8 minutes of run time with the wheel install,
# imports and copying; a hard `timeout` stops it 45 s past its budget whatever happens. Everything goes to a log
# under $OUT. At most 8 files of at most 16 MiB come back from $OUT, so the run writes into /tmp and copies back
# 7: run.log, reproduce.json, reproduce.md, quality.json, quality.md, bench.json and models.tar.gz (the cards of
# the trained models, with the weights when the archive fits in 16 MiB: a tiny backbone's do, paper-size ones,
# 80-120 MB each, stay on the machine).
# Extra arguments go to `iexplain reproduce` (e.g. --backbone tf_efficientnetv2_l --input-size 512). Off the GPU,
# DEVICE=cpu MINUTES=1.5 bash benchmarks/device/run.sh --scale toy checks the script itself.
set -uo pipefail
export PYTHONUNBUFFERED=1
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
OUT="${OUT:-$root/device-out}"
MINUTES="${MINUTES:-6.5}"
RUN="${RUN_DIR:-/tmp/iexplain-reproduce}"
mkdir -p "$OUT"
log="$OUT/run.log"
python="${PYTHON:-python3}"

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
  for name in reproduce.json reproduce.md quality.json quality.md bench.json; do
    [ -f "$RUN/$name" ] && cp "$RUN/$name" "$OUT/$name"
  done
  if ls "$RUN"/models/*.json >/dev/null 2>&1; then
    # the cards always; the weights too where the whole archive stays under the 16 MiB a result file may have
    # (a tiny backbone's few MB can then be shipped; paper-size weights stay on the machine)
    local small
    small=$(cd "$RUN" && find models -name '*.safetensors' -size -15M | sort)
    tar -C "$RUN" -czf "$OUT/models.tar.gz" $(cd "$RUN" && ls models/*.json) $small
    if [ "$(stat -c %s "$OUT/models.tar.gz")" -gt 16000000 ]; then
      tar -C "$RUN" -czf "$OUT/models.tar.gz" $(cd "$RUN" && ls models/*.json)
      echo "weights too large to bring back: cards only"
    fi
  fi
  ls -l "$RUN/models" "$OUT" 2>/dev/null
  return $rc
}

main "$@" 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
