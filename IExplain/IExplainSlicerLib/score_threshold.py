"""The candidates method's score threshold: findings below it are hidden, live, without running detection again.

``iexplain detect --method candidates`` runs with ``--score-threshold 0``, so every candidate comes back as a segment
carrying its reducer score (segment tag ``IExplain.Score``). Which of them count as findings is then the panel's
choice: the threshold lives on the segmentation node (``IExplain.ScoreThreshold``, saved with the scene), starts at
the reducer card's threshold (chosen on tuning seeds), and moving the slider only sets segment visibility. Every
segment below the threshold is hidden, and every segment at or above it is shown. Segments without a score (added by
hand) are never touched. The export leaves out a candidate below the threshold unless the radiologist marked it
completed (``export``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from IExplainLib.errors import ModelFileError
from IExplainLib.modelfile import read_card

from .segments import segmentScore, setIterationVisible

THRESHOLD_ATTRIBUTE = "IExplain.ScoreThreshold"
FALLBACK_THRESHOLD = 0.5  # a reducer card without a threshold (the library's cards always have one)


def cardThreshold(weightsPath: str | Path) -> float:
    """The threshold the reducer's card recommends (in [0, 1])."""
    try:
        value = read_card(Path(weightsPath)).get("threshold")
    except (ModelFileError, OSError) as error:
        logging.warning("IExplain: no threshold from the card of %s: %s", weightsPath, error)
        return FALLBACK_THRESHOLD
    if not isinstance(value, (int, float)):
        return FALLBACK_THRESHOLD
    return min(1.0, max(0.0, float(value)))


def scoredSegments(segmentationNode) -> list[tuple[str, float]]:
    """``[(segmentId, score)]`` of the segments that carry a candidate's score, in the segmentation's order."""
    segmentation = segmentationNode.GetSegmentation()
    scored = []
    for index in range(segmentation.GetNumberOfSegments()):
        segmentId = segmentation.GetNthSegmentID(index)
        score = segmentScore(segmentation.GetSegment(segmentId))
        if score is not None:
            scored.append((segmentId, score))
    return scored


def scoreThreshold(segmentationNode) -> float | None:
    """The segmentation's threshold; None when it is no candidates result (nothing for the slider to act on)."""
    if segmentationNode is None:
        return None
    text = segmentationNode.GetAttribute(THRESHOLD_ATTRIBUTE)
    if text:
        try:
            return float(text)
        except ValueError:
            pass
    return FALLBACK_THRESHOLD if scoredSegments(segmentationNode) else None


def isBelowThreshold(score: float | None, threshold: float | None) -> bool:
    return score is not None and threshold is not None and score < threshold


def applyScoreThreshold(segmentationNode, threshold: float) -> list[str]:
    """Remember ``threshold`` on the segmentation and show exactly the scored segments at or above it; returns the
    IDs hidden. Only visibility changes: no voxel, name or review status, so nothing is measured again."""
    threshold = min(1.0, max(0.0, float(threshold)))
    segmentationNode.SetAttribute(THRESHOLD_ATTRIBUTE, repr(threshold))
    hidden = []
    if segmentationNode.GetDisplayNode() is None:
        segmentationNode.CreateDefaultDisplayNodes()
    displayNode = segmentationNode.GetDisplayNode()
    wasModifying = displayNode.StartModify()  # one render for the whole slider step, not one per segment
    try:
        for segmentId, score in scoredSegments(segmentationNode):
            below = isBelowThreshold(score, threshold)
            setIterationVisible(segmentationNode, segmentId, not below)
            if below:
                hidden.append(segmentId)
    finally:
        displayNode.EndModify(wasModifying)
    return hidden
