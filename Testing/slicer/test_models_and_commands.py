"""Worker command lines (checked against the real ``iexplain`` parser), the model registry, requirements."""

from __future__ import annotations

import ast
import dataclasses
import json
import types
from pathlib import Path

import pytest

from IExplainLib.errors import InputError, ModelFileError
from IExplainSlicerLib.commands import (ADVANCED_FLAGS, MODEL_SETTING_OF_KIND, DetectSettings, detectArguments,
                                        detectSettingsFromParameters, finetuneArguments)
from IExplainSlicerLib.dependencies import (DependencyError, ensureRequirements, forbiddenRequirements,
                                            missingRequirements, readRequirements)
from IExplainSlicerLib.model_registry import ModelRegistry, bundledModelFolders

REPO = Path(__file__).resolve().parents[2]


def make_model(folder: Path, name: str, kind: str = "classifier", license: str = "Apache-2.0") -> Path:
    import torch

    from IExplainLib.modelfile import save_model

    folder.mkdir(parents=True, exist_ok=True)
    return save_model(folder / f"{name}.safetensors", {"w": torch.zeros(3)},
                      {"kind": kind, "architecture": "test", "name": name, "license": license})


def real_parser_accepts(args: list[str]):
    from IExplainLib.cli.main import build_parser

    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # argparse keeps no public accessor
    if args[0] not in subcommands:
        pytest.skip(f"`iexplain {args[0]}` is not registered yet (being written by another engineer)")
    return parser.parse_args(args)


def test_detect_command_line(tmp_path):
    model = make_model(tmp_path, "cls")
    settings = DetectSettings(method="iexplain", classifierModel=str(model), device="cpu", filterClusters=False,
                              advanced={"igSteps": 16, "clusterThreshold": 0.35, "maxIterations": 0,
                                        "igReferences": 2})
    args = detectArguments("ct.nrrd", "out.seg.nrrd", "heat.nrrd", settings)
    assert args[:4] == ["detect", "ct.nrrd", "-o", "out.seg.nrrd"]
    assert ["--classifier", str(model)] == args[args.index("--classifier"):args.index("--classifier") + 2]
    assert "--heatmap" in args and "--no-filter" in args and args[args.index("--progress") + 1] == "json"
    assert args[args.index("--ig-steps") + 1] == "16" and args[args.index("--high-threshold") + 1] == "0.35"
    assert "--max-iterations" not in args  # 0 means "model default": not passed
    parsed = real_parser_accepts(args)
    assert parsed.progress == "json" and parsed.device == "cpu"
    assert parsed.explain_references == ["zero", "blur"] and parsed.explain_high_threshold == 0.35


def parameter_node_defaults() -> types.SimpleNamespace:
    """The panel's parameter node as IExplain.py declares it (that file needs Qt, so its fields are read, not run)."""
    tree = ast.parse((REPO / "IExplain" / "IExplain.py").read_text(encoding="utf-8"))
    wrapper = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "IExplainParameterNode")
    return types.SimpleNamespace(**{n.target.id: ast.literal_eval(n.value) if n.value else None
                                    for n in wrapper.body if isinstance(n, ast.AnnAssign)})


def test_panel_values_become_the_detect_command_line(tmp_path):
    model = make_model(tmp_path, "cls")
    parameters = parameter_node_defaults()
    parameters.classifierModel = str(model)
    parameters.igSteps, parameters.igReferences, parameters.filterClusters = 16, 3, False
    settings = detectSettingsFromParameters(parameters)
    assert (settings.method, settings.device, settings.classifierModel) == ("iexplain", "auto", str(model))
    assert set(settings.advanced) == set(ADVANCED_FLAGS)
    args = detectArguments("ct.nrrd", "out.seg.nrrd", "heat.nrrd", settings)
    assert "--no-filter" in args and args[args.index("--ig-steps") + 1] == "16"
    assert "--max-iterations" not in args, "the panel's 0 leaves the model's default"
    assert real_parser_accepts(args).explain_references == ["zero", "blur", "mean"]


def test_each_model_kind_has_its_setting_in_the_panel_and_the_detect_settings():
    fields = {f.name for f in dataclasses.fields(DetectSettings)}
    assert set(MODEL_SETTING_OF_KIND.values()) <= fields & set(vars(parameter_node_defaults()))


def test_every_advanced_flag_is_known_to_the_real_detect_command(tmp_path):
    model = make_model(tmp_path, "cls")
    settings = DetectSettings(classifierModel=str(model), advanced={name: 3 for name in ADVANCED_FLAGS})
    real_parser_accepts(detectArguments("ct.nrrd", "out.seg.nrrd", "h.nrrd", settings))


def test_segmenter_method_and_refusals(tmp_path):
    seg = make_model(tmp_path, "seg", "segmenter")
    args = detectArguments("ct.nrrd", "o.seg.nrrd", "h.nrrd", DetectSettings(method="segmenter",
                                                                             segmenterModel=str(seg)))
    assert "--segmenter" in args and "--classifier" not in args and "--heatmap" not in args
    with pytest.raises(InputError, match="choose a classifier model"):
        DetectSettings(method="iexplain").validate()
    with pytest.raises(InputError, match="unknown device"):
        DetectSettings(classifierModel=str(seg), device="tpu").validate()
    with pytest.raises(InputError, match="not found"):
        DetectSettings(classifierModel=str(tmp_path / "gone.safetensors")).validate()


def test_candidates_method_runs_the_reducer_with_every_candidate_and_its_score_map(tmp_path, tiny_reducer):
    """Issue 23: --score-threshold 0 brings every candidate back (the panel's slider hides the low ones); the score
    map is the overlay; no iExplain or cluster-filter flag reaches a method they do not belong to."""
    parameters = parameter_node_defaults()
    parameters.method, parameters.reducerModel, parameters.device = "candidates", str(tiny_reducer), "cpu"
    parameters.filterClusters, parameters.igSteps, parameters.clusterThreshold = False, 16, 0.3
    settings = detectSettingsFromParameters(parameters)
    args = detectArguments("ct.nrrd", "o.seg.nrrd", "s.nrrd", settings)
    assert args[args.index("--reducer") + 1] == str(tiny_reducer) and args[args.index("--score-threshold") + 1] == "0"
    assert args[args.index("--scores") + 1] == "s.nrrd"
    assert not {"--classifier", "--segmenter", "--no-filter", "--ig-steps", "--high-threshold"} & set(args)
    parsed = real_parser_accepts(args)
    assert (parsed.method, parsed.reducer, parsed.score_threshold, parsed.scores) == (
        "candidates", str(tiny_reducer), 0.0, "s.nrrd")
    assert settings.asDict()["reducer"] == str(tiny_reducer)
    with pytest.raises(InputError, match="choose a reducer model for the candidates method"):
        DetectSettings(method="candidates").validate()


def test_the_registry_lists_reducers_by_kind_with_their_cards_threshold(tmp_path, tiny_reducer):
    registry = ModelRegistry([], tmp_path / "user")
    entry = registry.importModel(tiny_reducer)
    threshold = json.loads(tiny_reducer.with_suffix(".json").read_text())["threshold"]
    assert [m.name for m in registry.models("reducer")] == [entry.name] and registry.models("classifier") == []
    assert entry.kind == "reducer" and entry.threshold == pytest.approx(threshold)
    assert f"score threshold {threshold:.4f}" in entry.summary()
    card = entry.weightsPath.with_suffix(".json")
    document = json.loads(card.read_text())
    document["threshold"] = 1.5
    card.write_text(json.dumps(document))
    assert registry.models("reducer") == [] and "'threshold' must be a number in [0, 1]" in registry.problems[0]


def test_finetune_command_line(tmp_path):
    seg = make_model(tmp_path, "seg", "segmenter")
    data = tmp_path / "data"
    with pytest.raises(InputError, match="no dataset.json"):
        finetuneArguments(seg, data, tmp_path / "new.safetensors")
    data.mkdir()
    (data / "dataset.json").write_text("{}")
    args = finetuneArguments(seg, data, tmp_path / "new.safetensors", "cpu")
    assert args[:7] == ["finetune", "--from", str(seg), "--data", str(data), "--out", str(tmp_path / "new.safetensors")]
    real_parser_accepts(args)
    with pytest.raises(InputError, match="already exists"):
        finetuneArguments(seg, data, seg)


def test_registry_lists_bundled_and_imported_models_with_licence_and_checksum(tmp_path):
    bundled = tmp_path / "bundled"
    make_model(bundled, "demo-classifier")
    make_model(bundled, "demo-segmenter", "segmenter", license="CC-BY-NC-4.0")
    (bundled / "broken.json").write_text('{"format": "something else"}')
    registry = ModelRegistry([bundled, tmp_path / "absent"], tmp_path / "user")
    models = registry.models()
    assert [(m.name, m.kind, m.source) for m in models] == [("demo-classifier", "classifier", "bundled"),
                                                             ("demo-segmenter", "segmenter", "bundled")]
    assert len(registry.problems) == 1 and "broken.json" in registry.problems[0]
    classifier, segmenter = models
    assert classifier.permissive and not segmenter.permissive
    assert classifier.verifyChecksum() and "Apache-2.0" in classifier.summary()
    assert classifier.sha256[:12] in classifier.summary()

    downloaded = make_model(tmp_path / "downloads", "my-classifier")
    entry = registry.importModel(downloaded)
    assert entry.source == "imported" and entry.weightsPath.parent == tmp_path / "user"
    assert [m.name for m in registry.models("classifier")] == ["demo-classifier", "my-classifier"]
    assert registry.importModel(downloaded).weightsPath == entry.weightsPath  # same model twice: no duplicate

    finetuned = registry.newFinetunedPath(segmenter)
    assert finetuned == tmp_path / "user" / "demo-segmenter-ft1.safetensors"
    make_model(tmp_path / "user", "demo-segmenter-ft1", "segmenter")
    assert registry.registerFinetuned(finetuned).kind == "segmenter"
    assert [m.source for m in registry.models("segmenter")] == ["bundled", "finetuned"]
    assert registry.newFinetunedPath(segmenter).name == "demo-segmenter-ft2.safetensors"


def test_bundled_models_of_the_repository_are_listed(tmp_path):
    registry = ModelRegistry(bundledModelFolders(REPO / "IExplain"), tmp_path / "user")
    labels = {m.label for m in registry.models()}
    assert {"demo-classifier (bundled)", "demo-segmenter (bundled)", "demo-reducer (bundled)"} <= labels
    reducer = next(m for m in registry.models("reducer") if m.name == "demo-reducer")
    card = json.loads(reducer.weightsPath.with_suffix(".json").read_text())
    assert reducer.threshold == card["threshold"] and f"score threshold {card['threshold']:.4f}" in reducer.summary()


def test_import_refuses_a_corrupted_model(tmp_path):
    weights = make_model(tmp_path / "downloads", "bad")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        ModelRegistry([], tmp_path / "user").importModel(weights)
    assert not (tmp_path / "user" / "bad.safetensors").exists()


def test_requirements_file_never_touches_slicers_own_packages():
    requirements = readRequirements(REPO / "IExplain" / "Resources" / "requirements.txt")
    assert forbiddenRequirements(requirements) == []
    assert forbiddenRequirements(["SimpleITK>=2", "numpy", "monai"]) == ["SimpleITK>=2", "numpy"]
    assert not [line for line in requirements if "==" in line], "minimum versions and upper bounds, never pins"
    assert missingRequirements(["pytest>=1.0", "pytest>=999", "surely-not-a-package-iexplain>=1"]) == [
        "pytest>=999", "surely-not-a-package-iexplain>=1"]


def test_requirements_are_checked_quietly_in_self_tests_and_torch_comes_from_the_pytorch_extension(tmp_path):
    satisfied = tmp_path / "satisfied.txt"
    satisfied.write_text("pytest>=1.0\n")
    missing = tmp_path / "missing.txt"
    missing.write_text("surely-not-a-package-iexplain>=1\n")
    ensureRequirements(satisfied, testing=True)  # all there: nothing to ask, nothing to install
    # Outside Slicer there is no PyTorch extension: asking for PyTorch fails with the user-facing message.
    for path, testing in ((missing, True), (satisfied, False)):
        with pytest.raises(DependencyError, match="PyTorch extension"):
            ensureRequirements(path, testing=testing)


def test_bundled_models_need_no_licence_question(tmp_path):
    """Their cards carry a permissive licence (the checksum covers the weights only), so the first Apply asks nothing."""
    from IExplainSlicerLib.settings import ModuleSettings

    registry = ModelRegistry(bundledModelFolders(REPO / "IExplain"), tmp_path / "user")
    bundled = [m for m in registry.models() if m.source == "bundled"]
    assert sorted(m.kind for m in bundled) == ["classifier", "reducer", "segmenter"], "one model for each method"
    assert all(m.license == "Apache-2.0" and m.permissive for m in bundled)
    assert all(m.verifyChecksum() for m in bundled), "editing the card kept the weights' checksum valid"
    never = ModuleSettings(lambda: pytest.fail("a permissive licence reads no settings"))
    assert all(never.licenseAccepted(m) for m in bundled)


def test_pip_ensure_installs_in_testing_mode_and_stale_imports_ask_for_a_restart(tmp_path, monkeypatch):
    import sys

    import slicer

    from IExplainSlicerLib.dependencies import ensurePythonPackages, importedBeforeInstall

    calls = []

    class Packaging:  # Slicer 5.12's slicer.packaging (needs the application): its calls are recorded
        @staticmethod
        def load_requirements(path):
            return readRequirements(path)

        @staticmethod
        def pip_ensure(requirements, **kwargs):
            calls.append((requirements, kwargs))

    monkeypatch.setattr(slicer, "packaging", Packaging, raising=False)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("monai>=1.4\n")
    ensurePythonPackages(requirements, testing=True)
    (listed, kwargs), = calls
    assert listed == ["monai>=1.4"] and kwargs["skip_in_testing"] is False, "else the self-test installs nothing"
    assert kwargs["prompt_install"] is False and "SimpleITK" in kwargs["skip_packages"]
    assert importedBeforeInstall(["pytest>=1", "surely-not-imported-iexplain>=1"], sys.modules) == ["pytest>=1"]
    assert DependencyError("restart", restartRequired=True).restartRequired


def test_slicer_requirements_take_the_bounds_of_pyproject():
    """Issue 26, fault 10: Slicer installed ``timm>=1.0.9`` and ``captum>=0.7`` with no upper bound, although the
    library (pyproject: ``<1.1``, ``<0.10``) does not work with newer ones. pyproject.toml is the one source."""
    from packaging.requirements import Requirement
    from slicer_requirements import REQUIREMENTS, projectDependencies, renderRequirements

    bounds = {Requirement(line).name: Requirement(line).specifier for line in projectDependencies()}
    written = readRequirements(REQUIREMENTS)
    assert {"timm>=1.0.9,<1.1", "captum>=0.7,<0.10"} <= set(written)
    for line in written:
        requirement = Requirement(line)
        assert requirement.specifier == bounds[requirement.name], f"{line} differs from pyproject.toml"
    assert REQUIREMENTS.read_text(encoding="utf-8") == renderRequirements(), (
        "requirements.txt is stale: run `python Testing/slicer/slicer_requirements.py`")

