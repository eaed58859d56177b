"""Which CT a segmentation was made on, recorded at detection and checked at export (issue 26, fault 3).

A CT's identity is its DICOM SeriesInstanceUID when Slicer's subject hierarchy has one (a study loaded through the
DICOM module), else a SHA-256 of its voxels together with its grid (dimensions and IJK-to-RAS matrix, rounded to
1e-4 mm): two series that show the same name ("5: CTA Chest", as DICOM loading names them) never share it, and the
same file loaded twice always does. The identity goes onto the segmentation as a node attribute, so it is saved with
the scene and survives a restore; export compares it with the CT it is given and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import slicer

from IExplainLib.errors import InputError

from .volumes import ijkToRas

SOURCE_CT_ATTRIBUTE = "IExplain.SourceCT"
STUDY_FILE_ATTRIBUTE = "IExplain.StudyFile"  # the worklist file a CT was loaded from ("Next study")
DICOM_UID_NAME = "DICOM"  # the subject hierarchy's UID name for DICOM UIDs (patient ID, study and series UIDs)


def _dicomUids(ctNode) -> dict[str, str]:
    """Series, study and patient UIDs of a DICOM-loaded volume (empty when it was not loaded from DICOM)."""
    scene = ctNode.GetScene()
    shNode = scene.GetSubjectHierarchyNode() if scene is not None else None
    if shNode is None:
        return {}
    item = shNode.GetItemByDataNode(ctNode)
    uids: dict[str, str] = {}
    for key in ("series_instance_uid", "study_instance_uid", "patient_id"):
        if not item:
            break
        uid = shNode.GetItemUID(item, DICOM_UID_NAME)
        if uid:
            uids[key] = uid
        item = shNode.GetItemParent(item)
    return uids if uids.get("series_instance_uid") else {}


def ctIdentity(ctNode) -> dict:
    """``{"kind": "dicom", "series_instance_uid", ...}`` or ``{"kind": "content", "sha256", "dimensions",
    "ijk_to_ras"}``, plus ``key``: one string that two different CTs never share."""
    dimensions = [int(v) for v in ctNode.GetImageData().GetDimensions()]
    matrix = [[round(float(v), 4) + 0.0 for v in row] for row in ijkToRas(ctNode)]
    uids = _dicomUids(ctNode)
    if uids:
        return {"kind": "dicom", **uids, "dimensions": dimensions, "key": f"dicom:{uids['series_instance_uid']}"}
    digest = hashlib.sha256()
    digest.update(json.dumps({"dimensions": dimensions, "ijk_to_ras": matrix}).encode())
    array = np.ascontiguousarray(slicer.util.arrayFromVolume(ctNode))
    digest.update(str(array.dtype).encode())
    digest.update(array.data)  # C-contiguous: hashed in place, no copy of a 200 MB CT
    sha = digest.hexdigest()
    return {"kind": "content", "sha256": sha, "dimensions": dimensions, "ijk_to_ras": matrix, "key": f"sha256:{sha}"}


def shortId(identity: dict) -> str:
    """Eight hex digits of the identity, for case IDs that stay unique when two studies share a name."""
    return hashlib.sha256(identity["key"].encode()).hexdigest()[:8]


def recordSourceCt(segmentationNode, ctNode, identity: dict | None = None) -> dict:
    """Remember on ``segmentationNode`` which CT it belongs to (saved with the scene)."""
    identity = identity or ctIdentity(ctNode)
    segmentationNode.SetAttribute(SOURCE_CT_ATTRIBUTE, json.dumps({**identity, "name": ctNode.GetName()}))
    return identity


def recordedSourceCt(segmentationNode) -> dict | None:
    text = segmentationNode.GetAttribute(SOURCE_CT_ATTRIBUTE)
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


def checkSourceCt(segmentationNode, ctNode) -> dict:
    """The CT's identity, after making sure ``segmentationNode`` was made on this very CT; a segmentation made on
    another CT is refused in one line naming both. A segmentation with no record (drawn by hand, or from before
    this check) must at least reference ``ctNode`` as its geometry, when it references any volume."""
    identity = ctIdentity(ctNode)
    recorded = recordedSourceCt(segmentationNode)
    name, ctName = segmentationNode.GetName(), ctNode.GetName()
    if recorded is not None:
        if recorded.get("key") != identity["key"]:
            raise InputError(f"refused: {name} was made on the CT {recorded.get('name', '?')} "
                             f"({_describe(recorded)}), not on {ctName} ({_describe(identity)}); choose the CT it "
                             "was made on")
        return identity
    referenced = segmentationNode.GetNodeReference(segmentationNode.GetReferenceImageGeometryReferenceRole())
    if referenced is not None and referenced.IsA("vtkMRMLVolumeNode") and referenced is not ctNode:
        raise InputError(f"refused: {name} was drawn on {referenced.GetName()}, not on {ctName}; choose the CT it "
                         "was made on")
    return identity


def _describe(identity: dict) -> str:
    if identity.get("kind") == "dicom":
        return f"series {identity.get('series_instance_uid')}"
    return f"voxels sha256 {str(identity.get('sha256', ''))[:12]}"
