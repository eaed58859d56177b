"""A stand-in for ``iexplain detect`` until/unless the real models are available: same arguments, same outputs.

It reads the CT with IExplainLib, writes three iteration segments and a heat map on the CT's grid with IExplainLib's
own writers, and reports progress as JSON lines. ``--fail-after-progress`` exits with an error event instead.
"""

import argparse
import sys
import time

import numpy as np

from IExplainLib.io import read_volume, write_heatmap, write_segmentation
from IExplainLib.progress import Progress


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command")
    parser.add_argument("ct")
    parser.add_argument("-o", dest="output", required=True)
    parser.add_argument("--heatmap")
    parser.add_argument("--progress", default="text")
    parser.add_argument("--sleep", type=float, default=0.0)
    args, _unknown = parser.parse_known_args(argv)
    progress = Progress(args.progress)
    ct = read_volume(args.ct)
    labels = np.zeros(ct.shape, dtype=np.uint8)
    labels[2:4, 3:7, 4:8] = 1
    labels[5:9, 10:13, 9:12] = 2
    labels[10, 18:20, 15:18] = 3
    for iteration in (1, 2, 3):
        progress("explain", iteration / 3, "", iteration=iteration, slice=iteration * 3)
        time.sleep(args.sleep)
    write_segmentation(args.output, ct.with_array(labels))
    if args.heatmap:
        heat = np.zeros(ct.shape, dtype=np.float32)
        heat[labels > 0] = 0.5
        heat[6, 11, 10] = 0.9  # the peak lies in iteration 2
        write_heatmap(args.heatmap, ct.with_array(heat))
    progress.done("3 iterations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
