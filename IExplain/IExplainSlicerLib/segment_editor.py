"""The embedded Segment Editor's lifecycle, done the way Slicer's own SegmentEditor module does it.

Slicer's ``Modules/Scripted/SegmentEditor/SegmentEditor.py``: ``enter()`` installs the keyboard shortcuts and
updates the widget from its node; ``exit()`` deactivates the effect (an active Paint would keep painting in other
modules), uninstalls the shortcuts and removes the view observations; on scene close the widget lets go of its
segmentation and of the views, and gets its node back after the close. ``editor`` is the module's
``qMRMLSegmentEditorWidget``; methods that older Slicer versions lack are skipped (``hasattr``).

The panel's editor has its own parameter node (singleton tag ``IExplainSegmentEditor``), so its selected effect,
segment and options never leak into the Segment Editor module, which keeps the tag "SegmentEditor".
"""

from __future__ import annotations

EDITOR_NODE_TAG = "IExplainSegmentEditor"


def segmentEditorNode(scene, tag: str = EDITOR_NODE_TAG):
    """The panel's own ``vtkMRMLSegmentEditorNode`` (a singleton in ``scene``), created on first use."""
    node = scene.GetSingletonNode(tag, "vtkMRMLSegmentEditorNode")
    if node is None:
        node = scene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
        node.UnRegister(None)
        node.SetSingletonTag(tag)
        node = scene.AddNode(node)
    return node


def _call(editor, name: str, *args) -> bool:
    method = getattr(editor, name, None)
    if method is None:
        return False
    method(*args)
    return True


def enterEditor(editor, scene) -> None:
    """The module was opened: the editor's node (again, after a scene close), shortcuts, widget state."""
    node = segmentEditorNode(scene)
    if editor.mrmlSegmentEditorNode() is not node:
        editor.setMRMLSegmentEditorNode(node)
    _call(editor, "installKeyboardShortcuts")
    _call(editor, "updateWidgetFromMRML")


def exitEditor(editor) -> None:
    """Another module was opened: no effect may stay active, no shortcut or view observer may stay behind."""
    editor.setActiveEffect(None)
    _call(editor, "uninstallKeyboardShortcuts")
    _call(editor, "removeViewObservations")


def sceneStartClose(editor) -> None:
    """The scene is closing: let go of the segmentation and the views before their nodes go."""
    editor.setActiveEffect(None)
    editor.setSegmentationNode(None)
    _call(editor, "removeViewObservations")


def sceneEndClose(editor, scene, entered: bool) -> None:
    """The scene is closed: a new (empty) scene needs a new editor node; only when the module is shown."""
    if entered:
        enterEditor(editor, scene)


def setEditorInputs(editor, segmentationNode, volumeNode) -> None:
    """Segmentation and source volume; Slicer before 5.4 named the latter "master" (MONAILabel#852)."""
    editor.setSegmentationNode(segmentationNode)
    if hasattr(editor, "setSourceVolumeNode"):
        editor.setSourceVolumeNode(volumeNode)
    else:
        editor.setMasterVolumeNode(volumeNode)
