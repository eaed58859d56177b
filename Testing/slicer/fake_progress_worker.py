"""A stand-in worker for the process-runner tests: prints ``IExplainLib.progress`` JSON lines, with sleeps.

``ok``: a few events then ``done``; ``fail``: an ``error`` event and exit 2 (like ``iexplain`` on bad input);
``crash``: a traceback on stderr and exit 1, no error event; ``hang``: starts a child that sleeps, reports both pids,
then sleeps (for cancel: both must die).
"""

import os
import subprocess
import sys
import time

from IExplainLib.progress import Progress


def main(mode: str) -> int:
    progress = Progress("json")
    print("worker starting (a plain log line)", file=sys.stderr, flush=True)
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        progress("spawned", None, "child started", child_pid=child.pid, worker_pid=os.getpid())
        time.sleep(120)
        return 0
    for index in range(3):
        progress("explain", (index + 1) / 3, "", iteration=1, slice=10 + index)
        time.sleep(0.05)
    if mode == "fail":
        progress.error("classifier model.safetensors does not match the checksum in its card")
        print("iexplain detect: error: classifier model.safetensors does not match the checksum in its card",
              file=sys.stderr, flush=True)
        return 2
    if mode == "crash":
        print("Traceback (most recent call last):\nRuntimeError: CUDA out of memory", file=sys.stderr, flush=True)
        return 1
    progress.done("3 iterations", iterations=3)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
