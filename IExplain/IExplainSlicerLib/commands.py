"""Command lines of the ``iexplain`` worker runs the module starts (``detect`` and ``finetune``).

The module never calls the library in-process: the worker is ``<python> -m IExplainLib.cli.main <command> ...`` so a
crash, an out-of-memory or a cancel cannot take Slicer down. ``ADVANCED_FLAGS`` is the one place where panel settings
meet CLI flags; a test parses every command built here with the real ``iexplain`` argument parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from IExplainLib.errors import InputError

CLI_MODULE = "IExplainLib.cli.main"
METHODS = ("iexplain", "segmenter", "candidates")
DEVICES = ("auto", "cpu", "cuda")
MODEL_KIND_OF_METHOD = {"iexplain": "classifier", "segmenter": "segmenter", "candidates": "reducer"}
MODEL_SETTING_OF_KIND = {"classifier": "classifierModel", "segmenter": "segmenterModel",
                         "reducer": "reducerModel"}  # DetectSettings fields
# The file each method's map goes to (``--heatmap``, ``--probability``, ``--scores``) and the name of its node.
MAP_FLAG_OF_METHOD = {"iexplain": "--heatmap", "segmenter": "--probability", "candidates": "--scores"}
MAP_KIND_OF_METHOD = {"iexplain": "attribution", "segmenter": "probability", "candidates": "scores"}
# Candidates come back with every score (``--score-threshold 0``): the panel's threshold slider hides and shows
# them live, without running again.
CANDIDATES_WORKER_THRESHOLD = 0.0

# setting name -> CLI flag. A value of 0 (the spin boxes' "default" position) is not passed, so the worker uses the
# model card's or the CLI's default; only what the user changed reaches the command line.
ADVANCED_FLAGS = {
    "igSteps": "--ig-steps",
    "igReferences": "--references",  # a count in the panel: the first N of REFERENCE_ORDER
    "smoothGradSamples": "--smoothgrad-samples",
    "clusterThreshold": "--high-threshold",
    "classifierThreshold": "--classifier-threshold",
    "maxIterations": "--max-iterations",
    "minClusterVoxels": "--min-cluster-voxels",
    "maxCenterDistance": "--max-center-distance",
}


# The library's reference kinds in the order the panel's "IG references" count takes them.
REFERENCE_ORDER = ("zero", "blur", "mean", "uniform_noise", "one", "gaussian_noise")


@dataclass
class DetectSettings:
    """Everything ``iexplain detect`` needs besides its files; mirrors the panel's parameter node."""

    method: str = "iexplain"
    classifierModel: str = ""
    segmenterModel: str = ""
    reducerModel: str = ""
    device: str = "auto"
    filterClusters: bool = True
    advanced: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r} (use {', '.join(METHODS)})")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise InputError(f"unknown device {self.device!r} (use auto, cpu or cuda)")
        kind = MODEL_KIND_OF_METHOD[self.method]
        needed = getattr(self, MODEL_SETTING_OF_KIND[kind])
        if not needed:
            raise InputError(f"choose a {kind} model for the {self.method} method")
        if not Path(needed).exists():
            raise InputError(f"{kind} model {needed} not found")
        unknown = set(self.advanced) - set(ADVANCED_FLAGS)
        if unknown:
            raise InputError(f"unknown advanced settings: {', '.join(sorted(unknown))}")

    def asDict(self) -> dict:
        """For the export sidecar: what produced a segmentation."""
        return {"method": self.method, "classifier": self.classifierModel or None,
                "segmenter": self.segmenterModel or None, "reducer": self.reducerModel or None,
                "device": self.device,
                "filter_clusters": self.filterClusters,
                "advanced": {k: v for k, v in self.advanced.items() if v}}


def detectSettingsFromParameters(parameters) -> DetectSettings:
    """The settings of the panel's parameter node (or anything with the same attribute names)."""
    return DetectSettings(method=parameters.method, classifierModel=parameters.classifierModel,
                          segmenterModel=parameters.segmenterModel, reducerModel=parameters.reducerModel,
                          device=parameters.device,
                          filterClusters=parameters.filterClusters,
                          advanced={name: getattr(parameters, name) for name in ADVANCED_FLAGS})


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def detectArguments(ctPath: str | Path, outputPath: str | Path, heatmapPath: str | Path | None,
                    settings: DetectSettings) -> list[str]:
    """``detect CT -o OUT.seg.nrrd --method ... --progress json ...`` (without the python and ``-m`` part).

    The candidates method gets its reducer, ``--score-threshold 0`` (every candidate, the panel hides those below its
    threshold) and none of the iExplain and cluster-filter flags, which belong to the other two methods."""
    settings.validate()
    args = ["detect", str(ctPath), "-o", str(outputPath), "--method", settings.method,
            "--device", settings.device, "--progress", "json"]
    if settings.method == "iexplain":
        args += ["--classifier", str(settings.classifierModel)]
    elif settings.method == "segmenter":
        args += ["--segmenter", str(settings.segmenterModel)]
    else:
        args += ["--reducer", str(settings.reducerModel), "--score-threshold", _number(CANDIDATES_WORKER_THRESHOLD)]
    if heatmapPath is not None:  # iExplain's heat map, the segmenter's probability map, or the candidates' scores
        args += [MAP_FLAG_OF_METHOD[settings.method], str(heatmapPath)]
    if settings.method == "candidates":
        return args
    if not settings.filterClusters:
        args.append("--no-filter")
    for name, flag in ADVANCED_FLAGS.items():
        value = settings.advanced.get(name)
        if value and name == "igReferences":
            args += [flag, ",".join(REFERENCE_ORDER[:max(1, int(value))])]
        elif value:
            args += [flag, _number(value)]
    return args


def finetuneArguments(baseModel: str | Path, datasetFolder: str | Path, outputModel: str | Path,
                      device: str = "auto", extra: Sequence[str] = ()) -> list[str]:
    """``finetune --from MODEL --data DIR --out MODEL2 --progress json``."""
    if not Path(baseModel).exists():
        raise InputError(f"model {baseModel} to finetune not found")
    if not (Path(datasetFolder) / "dataset.json").exists():
        raise InputError(f"{datasetFolder} has no dataset.json: export corrected cases there first")
    if Path(outputModel).exists():
        raise InputError(f"{outputModel} already exists; choose another name for the finetuned model")
    return ["finetune", "--from", str(baseModel), "--data", str(datasetFolder), "--out", str(outputModel),
            "--device", device, "--progress", "json", *extra]
