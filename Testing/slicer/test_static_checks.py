"""Static checks of what only Slicer runs (SLICER_NOTES 11.3): module file, .ui, slicer.util calls, CMake, index."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from cmake_lists import cmake_list, library_files, render_library_cmake

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "IExplain"
MODULE_FILE = MODULE_DIR / "IExplain.py"
UI_FILE = MODULE_DIR / "Resources" / "UI" / "IExplain.ui"
# Every function of Slicer's slicer/util.py with its signature (Slicer main @ 583e9b37), kept in the repository so
# that the check runs in a fresh clone.
SIGNATURES = Path(__file__).resolve().parent / "slicer-util-signatures.txt"
INDEX_ENTRY = REPO / "IExplain.json"
SLICER_LIB = MODULE_DIR / "IExplainSlicerLib"

# ExtensionsIndex scripts/check_description_files.py and schema v1.0.1 (SLICER_NOTES 3.1, 3.3)
REQUIRED_INDEX_KEYS = {"$schema", "category", "scm_url"}
ALLOWED_INDEX_KEYS = REQUIRED_INDEX_KEYS | {"scm_revision", "scm_type", "build_dependencies", "dicom_support_rule",
                                            "build_subdirectory", "enabled", "tier"}
ACCEPTED_CATEGORIES = {"Segmentation", "Active Learning", "Quantification", "Chest Imaging Platform", "Utilities"}


def module_tree() -> ast.Module:
    return ast.parse(MODULE_FILE.read_text(encoding="utf-8"), filename=str(MODULE_FILE))


def python_sources() -> list[Path]:
    return [MODULE_FILE, *sorted(SLICER_LIB.glob("*.py"))]


def test_module_file_defines_the_four_slicer_classes():
    classes = {node.name: [ast.unparse(b) for b in node.bases] for node in module_tree().body
               if isinstance(node, ast.ClassDef)}
    assert classes["IExplain"] == ["ScriptedLoadableModule"]
    assert classes["IExplainWidget"][0] == "ScriptedLoadableModuleWidget"
    # the logic's Qt-free part (ModuleLogic) and the panel's view interface (PanelView) come from IExplainSlicerLib
    assert classes["IExplainWidget"] == ["ScriptedLoadableModuleWidget", "VTKObservationMixin", "PanelView"]
    assert classes["IExplainLogic"] == ["ScriptedLoadableModuleLogic", "ModuleLogic"]
    assert classes["IExplainTest"] == ["ScriptedLoadableModuleTest"]
    # only Slicer classes (and the parameter node) live in the module file
    assert set(classes) == {"IExplain", "IExplainParameterNode", "IExplainWidget", "IExplainLogic", "IExplainTest"}


def test_nothing_is_installed_at_import_time():
    for node in module_tree().body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        calls = [ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)]
        assert not [c for c in calls if "pip_" in c or "install" in c.lower()], calls


def test_no_other_python_file_at_the_top_of_the_module_folder():
    # Slicer loads every top-level .py of a module folder as a module (SLICER_NOTES 2.4)
    assert sorted(p.name for p in MODULE_DIR.glob("*.py")) == ["IExplain.py"]


def ui_widgets() -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ET.parse(UI_FILE).getroot().iter("widget")}


def test_every_self_ui_name_exists_in_the_ui_file():
    used = set(re.findall(r"\bui\.(\w+)", MODULE_FILE.read_text(encoding="utf-8")))  # self.ui.X and ui.X
    missing = used - set(ui_widgets())
    assert used and not missing, f"self.ui names missing from IExplain.ui: {sorted(missing)}"


def test_ui_parameter_names_match_the_parameter_node_fields():
    bound = {}
    for name, widget in ui_widgets().items():
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.find("string").text] = widget.get("class")
    wrapper = next(n for n in module_tree().body if isinstance(n, ast.ClassDef) and n.name == "IExplainParameterNode")
    fields = {n.target.id: ast.unparse(n.annotation) for n in wrapper.body if isinstance(n, ast.AnnAssign)}
    assert set(bound) <= set(fields), f"unknown parameters in the .ui: {set(bound) - set(fields)}"
    for parameter, widget_class in bound.items():  # the wrapper's connectors need these pairs (gui_connection.md)
        annotation = fields[parameter]
        if widget_class == "QComboBox":
            assert "Choice(" in annotation, parameter
        if widget_class in ("QSpinBox", "QDoubleSpinBox", "ctkSliderWidget"):
            assert "WithinRange(" in annotation, parameter
    from IExplainSlicerLib.commands import ADVANCED_FLAGS

    assert set(ADVANCED_FLAGS) <= set(bound), "every advanced setting has its widget"


def test_ui_file_declares_its_custom_widgets():
    root = ET.parse(UI_FILE).getroot()
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    used = {w.get("class") for w in root.iter("widget")}
    custom = {c for c in used if c.startswith(("ctk", "qMRML"))}
    assert custom <= declared


def util_signatures() -> dict[str, ast.arguments]:
    signatures = {}
    for line in SIGNATURES.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*\d+:\s*def (\w+)\((.*)\):\s*$", line)
        if match:
            parameters = match.group(2).replace("\\", " ")  # the listing keeps line-continuation backslashes
            signatures[match.group(1)] = ast.parse(f"def f({parameters}): pass").body[0].args
    return signatures


def test_every_slicer_util_call_exists_with_those_arguments():
    signatures = util_signatures()
    checked = 0
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and ast.unparse(node.func.value) == "slicer.util"):
                continue
            name = node.func.attr
            assert name in signatures, f"{path.name}: slicer.util.{name} does not exist"
            arguments = signatures[name]
            names = [a.arg for a in arguments.args + arguments.kwonlyargs]
            for keyword in node.keywords:
                assert keyword.arg in names or arguments.kwarg, f"{path.name}: slicer.util.{name}({keyword.arg}=)"
            assert len(node.args) <= len(arguments.args) or arguments.vararg, f"{path.name}: slicer.util.{name}"
            checked += 1
    assert checked > 20


def test_slicer_lib_pure_modules_import_no_qt_and_no_slicer():
    pure = {"process", "progress_tracker", "job", "commands", "worker", "model_registry", "dataset_folder",
            "dependencies", "settings"}
    for name in pure:
        tree = ast.parse((SLICER_LIB / f"{name}.py").read_text(encoding="utf-8"))
        top = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
        top += [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module]
        assert not {"qt", "ctk", "slicer", "vtk"} & {t.split(".")[0] for t in top}, name
    for path in SLICER_LIB.glob("*.py"):
        assert "import qt" not in path.read_text(encoding="utf-8"), f"{path.name}: the widget owns Qt"


def test_reload_list_names_every_lib_module():
    tree = module_tree()
    reload_list = next(ast.literal_eval(n.value) for n in tree.body
                       if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "LIB_MODULES")
    assert set(reload_list) == {p.stem for p in SLICER_LIB.glob("*.py")} - {"__init__"}


def test_module_cmake_lists_every_packaged_file():
    text = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    scripts = cmake_list(text, "MODULE_PYTHON_SCRIPTS")
    resources = cmake_list(text, "MODULE_PYTHON_RESOURCES")
    for listed in scripts + resources:
        assert (MODULE_DIR / listed).is_file(), f"CMake lists {listed}, which does not exist"
    on_disk_scripts = {"IExplain.py", *(p.relative_to(MODULE_DIR).as_posix() for p in SLICER_LIB.glob("*.py"))}
    assert set(scripts) == on_disk_scripts
    on_disk_resources = {p.relative_to(MODULE_DIR).as_posix() for p in (MODULE_DIR / "Resources").rglob("*")
                         if p.is_file()}
    assert set(resources) == on_disk_resources
    assert "WITH_GENERIC_TESTS" in text and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in text


def test_library_cmake_lists_every_library_file():
    text = (REPO / "IExplainLib" / "CMakeLists.txt").read_text(encoding="utf-8")
    scripts, resources = library_files()
    unlisted = sorted(set(scripts) - set(cmake_list(text, "MODULE_PYTHON_SCRIPTS")))
    assert not unlisted, (f"IExplainLib files not packaged: {unlisted}; run `python Testing/slicer/cmake_lists.py`")
    assert set(resources) <= set(cmake_list(text, "MODULE_PYTHON_RESOURCES"))
    for listed in cmake_list(text, "MODULE_PYTHON_SCRIPTS") + cmake_list(text, "MODULE_PYTHON_RESOURCES"):
        assert (REPO / "IExplainLib" / listed).is_file(), f"IExplainLib/CMakeLists.txt lists missing {listed}"
    assert "WITH_SUBDIR" in text
    assert text == render_library_cmake(), "IExplainLib/CMakeLists.txt is stale: run `python Testing/slicer/cmake_lists.py`"


def test_extension_cmake_metadata():
    text = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    project = re.search(r"^project\((\w+)", text, re.M).group(1)
    assert project == INDEX_ENTRY.stem == "IExplain" and not project.startswith("Slicer")
    values = dict(re.findall(r'set\((EXTENSION_\w+)\s+"([^"]*)"\)', text))
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL",
                "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert values.get(key), key
    assert values["EXTENSION_DEPENDS"].split() == json.loads(INDEX_ENTRY.read_text())["build_dependencies"]
    # the icon and screenshots named by raw URLs must exist at those paths in the repository
    for url in [values["EXTENSION_ICONURL"], *values["EXTENSION_SCREENSHOTURLS"].split()]:
        relative = url.split("/main/", 1)[1]
        assert (REPO / relative).is_file(), f"{url} points at {relative}, missing from the repository"
    order = [text.index(s) for s in ("find_package(Slicer REQUIRED)", "add_subdirectory(IExplain)",
                                     "add_subdirectory(IExplainLib)", "Slicer_EXTENSION_GENERATE_CONFIG",
                                     "Slicer_EXTENSION_CPACK")]
    assert order == sorted(order)
    assert (REPO / "LICENSE").read_text().count("Apache License") >= 1


def test_index_entry_has_the_required_keys_and_lf_endings():
    raw = INDEX_ENTRY.read_bytes()
    assert b"\r" not in raw, "the Extensions Index requires LF line endings"
    entry = json.loads(raw)
    assert REQUIRED_INDEX_KEYS <= set(entry) and set(entry) <= ALLOWED_INDEX_KEYS
    assert entry["category"] in ACCEPTED_CATEGORIES
    assert entry["scm_url"].startswith("https://github.com/") and entry["scm_url"].rsplit("/", 1)[1].startswith("Slicer")
    assert entry["build_dependencies"] == ["PyTorch"] and 1 <= entry["tier"] <= 5


def test_icons_are_128_pixel_pngs():
    from PIL import Image

    for path in (MODULE_DIR / "Resources" / "Icons" / "IExplain.png", REPO / "Resources" / "Icons" / "IExplain.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (128, 128)


TYPING_NAMES = {"str", "int", "float", "bool", "bytes", "Path", "list", "dict", "tuple", "set", "type", "Mapping",
                "Sequence", "Callable", "Iterable", "Optional", "Any"}


def runtime_unions(path: Path) -> list[int]:
    """Lines where ``X | None``-style unions are evaluated at import (Python 3.9, Slicer 5.8, cannot run them)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 9))
    lazy = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations"
                                                                                  for a in n.names)
               for n in tree.body)
    in_annotation = set()
    if lazy:
        for node in ast.walk(tree):
            for annotation in (getattr(node, "returns", None), getattr(node, "annotation", None)):
                if annotation is not None:
                    in_annotation.update(id(n) for n in ast.walk(annotation))

    def typing_side(side) -> bool:
        if isinstance(side, ast.Constant):
            return side.value is None
        if isinstance(side, ast.Subscript):
            side = side.value
        return isinstance(side, ast.Name) and side.id in TYPING_NAMES

    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr)
            and id(n) not in in_annotation and (typing_side(n.left) or typing_side(n.right))]


def test_the_module_imports_on_python_3_9(tmp_path):
    broken = tmp_path / "broken.py"  # what worker.py:23 used to do
    broken.write_text("from __future__ import annotations\nfrom typing import Callable, Mapping\n"
                      "F = Callable[[Mapping[str, str] | None, str | None], int]\n")
    assert runtime_unions(broken) == [3, 3]
    for path in python_sources():
        assert runtime_unions(path) == [], f"{path.name}: a runtime `X | None` fails on Slicer 5.8 (Python 3.9)"


def widget_methods() -> dict[str, str]:
    widget = next(n for n in module_tree().body if isinstance(n, ast.ClassDef) and n.name == "IExplainWidget")
    return {n.name: ast.unparse(n) for n in widget.body if isinstance(n, ast.FunctionDef)}


def test_the_widget_implements_the_whole_view_and_connects_every_handler():
    """Widget lines that only Slicer runs: the panel's behaviour is the presenter's (tested on slicer-core); the
    widget must implement every PanelView method and hand every signal to a presenter handler."""
    from IExplainSlicerLib.panel_presenter import PanelPresenter, viewMethodNames

    text = MODULE_FILE.read_text(encoding="utf-8")
    methods = widget_methods()
    assert viewMethodNames() <= set(methods), f"PanelView methods missing: {viewMethodNames() - set(methods)}"
    handlers = {name for name in vars(PanelPresenter) if name.startswith("on") and name != "observeScene"}
    setup = methods["setup"] + methods["enter"] + methods["exit"] + methods["cleanup"]
    connected = set(re.findall(r"\bp(?:resenter)?\.(on\w+)", setup + methods["_onParameterNodeModified"]
                               + methods["_onFindingItemChanged"]))
    assert handlers - {"onSceneStartClose", "onSceneEndClose", "onSceneImported"} <= connected, (
        f"handlers the widget never calls: {sorted(handlers - connected)}")
    assert "ui.heatmapSelector.connect(\"currentNodeChanged(vtkMRMLNode*)\", p.onHeatmapChosen)" in text
    assert "ui.studyFolderPathLineEdit.connect(\"currentPathChanged(QString)\", p.onStudyFolderChanged)" in text
    assert "setSliceViewerLayers" not in text, "it reset every view's layers"
    assert "editorLifecycle.exitEditor(" in methods["exitEditor"]
    assert "editorLifecycle.enterEditor(" in methods["enterEditor"]
    assert "editorLifecycle.sceneStartClose(" in methods["editorSceneStartClose"]
    assert "self.presenter.onCleanup()" in methods["cleanup"]
    assert "slicer.util.restart()" in methods["restartApplication"]
    log = ui_widgets()["logTextEdit"]
    blocks = [p for p in log.findall("property") if p.get("name") == "maximumBlockCount"]
    assert blocks and int(blocks[0].findtext("number")) > 0, "the log must be bounded"
    for combo in ("methodComboBox", "deviceComboBox"):  # labels for people: filled from panel_state, not bound
        assert not [p for p in ui_widgets()[combo].findall("property") if p.get("name") == "SlicerParameterName"]


def test_the_widget_holds_no_panel_logic():
    """The widget's methods only connect signals and drive widgets: no MRML node is created or measured there."""
    text = MODULE_FILE.read_text(encoding="utf-8")
    widget = text[text.index("class IExplainWidget("):text.index("class IExplainLogic(")]
    for forbidden in ("FindingsModel", "RunController", "StudyWorklist", "showHeatmapOverlay", "AddNewNodeByClass",
                      "exportForFinetuning(", "mrmlScene.Clear("):
        assert forbidden not in widget, forbidden


def test_sample_data_is_registered_at_startup():
    tree = module_tree()
    assert "registerSampleData" in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'slicer.app.connect("startupCompleted()", registerSampleData)' in MODULE_FILE.read_text(encoding="utf-8")


def test_the_score_slider_holds_the_bundled_reducers_threshold_and_the_names_tell_it_from_1():
    # ctkSliderWidget rounds its value to its decimals: at two, a bundled reducer's 0.9976 or 0.9998 would read 1.00,
    # and a nudge could never bring it back; a step of 0.001 from 0.9998 would reach 1 at once
    from IExplainLib.findings import score_text
    from IExplainLib.modelfile import bundled_model, read_card

    slider = next(w for w in ET.parse(UI_FILE).getroot().iter("widget") if w.get("name") == "scoreThresholdSlider")
    properties = {p.get("name"): p[0].text for p in slider.iter("property")}
    decimals, step = int(properties["decimals"]), float(properties["singleStep"])
    threshold = float(read_card(bundled_model("demo-reducer"))["threshold"])
    assert round(threshold, decimals) == threshold
    assert step < 1.0 - threshold
    assert score_text(threshold) != score_text(1.0) and float(score_text(threshold)) == threshold
