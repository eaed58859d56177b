"""How long the findings table takes to follow one edit on a 512x512x400 CT (issue 26, fault 6), on slicer-core.

A run's segmentation (10 emboli, as the worker writes it) and heat map are loaded onto the CT; then one segment is
edited in place (as a Paint stroke does: the segment's labelmap changes, nothing else) and ``FindingsModel.refresh``
re-measures it, as the panel's findings timer does. Prints the time of the first full measurement (the end of a run)
and the median time per edit. Usage: ``python Testing/slicer/benchmark_edit_measurement.py [--slices 400]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for path in (str(HERE), str(HERE.parents[1] / "IExplain"), str(HERE.parents[1])):
    sys.path.insert(0, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args(argv)

    import slicer
    from mrml_scene import newScene

    from IExplainLib.io import write_heatmap, write_segmentation, write_volume
    from IExplainLib.volume import Volume
    from IExplainSlicerLib.findings_table import FindingsModel
    from IExplainSlicerLib.heatmap import loadHeatmap
    from IExplainSlicerLib.segments import iterationSegmentIds, loadDetectionSegmentation
    from IExplainSlicerLib.volumes import loadVolumeFile

    shape = (args.slices, args.size, args.size)
    rng = np.random.default_rng(0)
    ct = Volume(np.full(shape, -500, np.int16), spacing=(0.7, 0.7, 1.0))
    labels = np.zeros(shape, np.uint8)
    for value in range(1, args.segments + 1):  # emboli of about 12x16x16 voxels spread over both lungs
        k, j, i = (int(rng.integers(20, n - 40)) for n in shape)
        labels[k:k + 12, j:j + 16, i:i + 16] = value
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        scene = newScene()
        ctNode = loadVolumeFile(scene, write_volume(folder / "ct.nrrd", ct))
        seg = loadDetectionSegmentation(scene, write_segmentation(folder / "pe.seg.nrrd", ct.with_array(labels)),
                                        ctNode)
        heat = loadHeatmap(scene, write_heatmap(folder / "heat.nrrd", ct.with_array(
            (labels > 0).astype(np.float32) * 0.5)), ctNode)
        model = FindingsModel(seg, ctNode, heat)
        start = time.perf_counter()
        model.refresh()
        full = time.perf_counter() - start
        edited = iterationSegmentIds(seg)[0][1]
        segment = seg.GetSegmentation().GetSegment(edited)
        name = slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName()
        times = []
        for stroke in range(args.edits):
            image = segment.GetRepresentation(name)  # a Paint stroke: voxels of this segment change in place
            from vtk.util.numpy_support import vtk_to_numpy

            extent = image.GetExtent()
            voxels = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(
                extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
            where = np.argwhere(voxels == segment.GetLabelValue())[0]
            voxels[where[0], where[1], min(where[2] + stroke + 1, voxels.shape[2] - 1)] = segment.GetLabelValue()
            image.Modified()
            start = time.perf_counter()
            model.refresh({edited})
            times.append(time.perf_counter() - start)
        assert model.measured == args.segments + args.edits
        print(f"{args.size}x{args.size}x{args.slices}, {args.segments} segments: end of run (all measured) "
              f"{full:.2f} s; per edit (one segment) median {1000 * statistics.median(times):.0f} ms "
              f"(min {1000 * min(times):.0f}, max {1000 * max(times):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
