"""What a writer killed outright leaves (``.partial-*``) is removed when the work starts again, and never while
another process may still be writing it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from IExplainLib.outputs import claim_folder, partial_target, remove_partials
from IExplainLib.progress import Progress

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# A writer that dies inside atomic_output, after writing half its data: exactly what kill -9 strands.
_KILLED_WRITER = r"""
import sys, time
from IExplainLib.outputs import atomic_output
with atomic_output(sys.argv[1]) as temporary:
    temporary.write_bytes(b"half a heat map")
    print("writing", flush=True)
    time.sleep(120)
"""

# Another shard that holds its claim on the folder while it works.
_LIVE_SHARD = r"""
import sys, time
from IExplainLib.outputs import claim_folder
with claim_folder(sys.argv[1]):
    print("claimed", flush=True)
    time.sleep(120)
"""


def _start(code: str, *args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    process = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE, text=True,
                               env=env)
    assert process.stdout.readline().strip() in ("writing", "claimed")
    return process


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()


def test_a_killed_writer_leaves_a_partial_that_the_next_run_removes_and_reports(tmp_path):
    target = tmp_path / "heatmaps" / "case-004.nrrd"
    _kill(_start(_KILLED_WRITER, target))
    leftovers = list(target.parent.glob(".partial-*"))
    assert len(leftovers) == 1 and partial_target(leftovers[0]) == "case-004.nrrd" and not target.exists()

    stream = io.StringIO()
    with claim_folder(tmp_path, Progress("json", stream=stream)) as removed:
        assert removed == leftovers
    assert not leftovers[0].exists()
    event = json.loads(stream.getvalue())
    assert event["stage"] == "resume" and event["removed"] == 1 and "case-004.nrrd" in event["message"]


def test_nothing_is_removed_while_another_shard_holds_the_folder(tmp_path):
    shard = _start(_LIVE_SHARD, tmp_path)
    leftover = tmp_path / ".partial-0123abcd-case-001.nii.gz"
    leftover.write_bytes(b"the live shard's file, being written")
    try:
        with claim_folder(tmp_path) as removed:
            assert removed == [] and leftover.exists()
    finally:
        _kill(shard)  # its lock dies with it: the next run may clean up
    with claim_folder(tmp_path) as removed:
        assert removed == [leftover] and not leftover.exists()


def test_only_atomic_output_temporaries_and_only_the_named_targets(tmp_path):
    keep = [tmp_path / "case.nrrd", tmp_path / ".partial-xyz-case.nrrd", tmp_path / ".partial-0123abcd-other.pt"]
    for path in keep:
        path.write_text("keep")
    mine = tmp_path / ".partial-89abcdef-model.checkpoint.pt"
    mine.write_text("left by a killed save")
    folder = tmp_path / ".partial-00ff00ff-demo"  # atomic_output also stages whole folders
    (folder / "inner").mkdir(parents=True)
    assert remove_partials(tmp_path, targets=["model.checkpoint.pt"], recursive=False) == [mine]
    assert remove_partials(tmp_path, targets=["demo"]) == [folder]
    assert all(path.exists() for path in keep) and not folder.exists()
