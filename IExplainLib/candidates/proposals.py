"""Candidate filling defects found from the CT alone (no training): clot-density cores inside opacified arteries.

Every candidate is a connected core of clot-density voxels in the chest region (``filling_defects.core_features``:
in-plane opening against partial-volume rims) whose shell touches contrast-filled lumen. The thresholds here are
looser than ``filling_defects``'s defect check: the aim is to miss no embolus, and the false-positive reducer
(``reducer.py``) rejects the look-alikes. Each candidate carries its voxels (a label in ``CandidateSet.labels``), its
calibre class, volume, contrast against the surrounding lumen, position, and the hand features the baseline reducer
and the patch network read.

In the mediastinum every clot-density voxel is joined to every other through fat (about -100 HU, inside the
clot-density range because partial-volume clots in small lung vessels reach that low), so a core larger than any
clot (``SPLIT_MM3``) keeps only its parts denser than fat, each whole up to that size; larger dense parts (heart wall,
muscle) keep what lies in the closed lumen of an artery. Candidates larger than ``MAX_CANDIDATE_MM3`` (a whole
unopacified vessel tree of a mixing artefact, a heart chamber's wall) are dropped.

Further steps make up the rule (``CandidateRule``; ``SESSION17_RULE`` has none of them, the default all of
them). Experiment 20 added two: they double strict recall on real-anatomy CT angiograms, but bring look-alikes that
the hand-feature reducer could not tell from clots until experiment 21 added the third, ``max_mean_hu``: a core whose
mean is denser than any clot (clots are 20-90 HU, partial volume lifts small ones) is a dim patch of lumen, not a
defect. Dropping those removes a third of the candidates of phantoms and a seventh of real anatomy's, no embolus on
any tuning or training seed, and the look-alikes that multiple-instance training mistook for emboli (bag winners of
about 165 HU, 75 HU below their lumen). ``enclosed_mm`` keeps clot-density voxels enclosed by lumen (inside its closing by that ball) where
the rim opening would remove them (a segmental clot of real anatomy is often thinner than the opening), and
``bridges_mm`` cuts a part larger than ``MAX_CANDIDATE_MM3`` at bridges thinner than each radius in turn instead of
dropping it (in a real mediastinum a central clot stays joined to artery walls by such bridges). Experiment 23 added
``split_holes_mm3``: a candidate of at least that size is cut into what lies in a hole of the lumen in its slice (the
polo-mint sign of a clot the contrast surrounds) and the rest. In a real hilum a clot is joined through the artery's
wall to a vein or bronchial wall at clot density, and the whole, several times the clot, looks like no clot to the
reducer: on real-anatomy tuning studies 17 of 27 emboli had a candidate at least half clot, 25 with the cut, and the
held-out sensitivity at 2 false findings per study rose from 0.42 to 0.66. Experiment 26 added ``split_dim_hu`` (on
since session 24; off in the rule of a card that does not name it): in the lung, a candidate that is mostly a dim
vessel (on average at least that HU) is cut into what lies below it and the rest, since a clot touching a dim vein is
otherwise one candidate with the vein. Experiment 27 added ``stump_share`` (on since session 25; off in the rule of a
card that does not name it): an occlusive clot in a small lung artery touches the lumen only at the artery's stump,
under the lumen check's 3% of its shell, so a core below ``SPLIT_MM3`` whose shell is at least ``stump_share`` lumen
gives a candidate where it is shaped as a vessel's occluded segment (``STUMP_*``: at least 10 mm long, 40-150 mm3, on
average no denser than 10 HU); shaped by nothing, the looser check brought more lung look-alikes than clots
(experiments 24b, 25a).

Calibre is the local radius of the opacified vessel the core sits in: the largest distance (mm) to the vessel wall
within the core and its shell, where the vessel is lumen plus the core itself (so an occlusive clot that fills its
artery still measures that artery). The class bounds are set between the radii of the phantom arterial tree's levels
(main/central 10-14 mm, lobar 5-6 mm, segmental about 3 mm, subsegmental about 1.8 mm) and of adult CTPA anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..chest_region import chest_region, fill_holes_in_plane
from ..filling_defects import BONE_HU, LUMEN_HU, SHELL_MM, cores_and_boxes
from ..morphology import box_of, dilate, erode, grown_box
from ..volume import Volume

CALIBRES = ("central", "lobar", "segmental", "subsegmental")
CALIBRE_MIN_RADIUS_MM = {"central": 7.0, "lobar": 3.8, "segmental": 2.2, "subsegmental": 0.0}
MIN_CANDIDATE_MM3 = 8.0
WORKING_PIXEL_MM = 2.0
# Larger than any clot (a central one of 45 mm at 8.5 mm radius is about 10,000 mm3): a whole unopacified vessel tree
# (mixing artefact) or a heart chamber's wall, where no defect can be told from its surroundings.
MAX_CANDIDATE_MM3 = 25000.0
MIN_LUMEN_SHARE = 0.03
MAX_BONE_SHARE = 0.25
SPLIT_MM3 = 2500.0
ENVELOPE_MM = 6.0
CENTRAL_MM = 9.0
DENSE_MIN_HU = -20.0
CONTEXT_MM = 9.0
# The options' values of experiment 20 and the clot-density bound of experiment 21 (see the module's docstring)
ENCLOSED_MM = 3.0
BRIDGES_MM = (1.5, 2.5, 3.5)
MAX_MEAN_HU = 150.0
SPLIT_HOLES_MM3 = 100.0  # experiment 23: clots with a compact candidate of their own, real-anatomy tuning 17 -> 25 of 27
SPLIT_DIM_HU = 100.0  # experiment 26e: a clot cut from the dim vein it touches, kept to the lung
# Experiment 27: an occlusive subsegmental clot touches lumen only at its artery's stump (0.3-3% of its shell); kept
# where it is a vessel's segment (this long, this large, no denser than a partial-volume clot filling a 2 mm artery)
STUMP_SHARE = 0.003
STUMP_MIN_MM = 10.0
STUMP_MM3 = (40.0, 150.0)
STUMP_MAX_HU = 10.0


@dataclass(frozen=True)
class CandidateRule:
    """The optional steps of :func:`find_candidates`; a reducer's card records the rule it was trained on, and
    its detector finds candidates by that rule (a card without one: ``SESSION17_RULE``)."""

    enclosed_mm: float | None = ENCLOSED_MM
    bridges_mm: tuple[float, ...] = BRIDGES_MM
    max_mean_hu: float | None = MAX_MEAN_HU
    split_holes_mm3: float | None = SPLIT_HOLES_MM3
    split_dim_hu: float | None = SPLIT_DIM_HU
    stump_share: float | None = STUMP_SHARE

    def as_dict(self) -> dict:
        section = {"enclosed_mm": self.enclosed_mm, "bridges_mm": list(self.bridges_mm),
                   "max_mean_hu": self.max_mean_hu, "split_holes_mm3": self.split_holes_mm3}
        # the cards of rules without these stay as they were written
        if self.split_dim_hu is not None:
            section["split_dim_hu"] = self.split_dim_hu
        if self.stump_share is not None:
            section["stump_share"] = self.stump_share
        return section

    @classmethod
    def from_dict(cls, section: dict) -> "CandidateRule":
        """The rule of a card's ``candidates.rule`` section (``ValueError`` naming a wrong field)."""
        def radius(name):
            value = section.get(name)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
                raise ValueError(f"'{name}' must be a positive number or null, found {value!r}")
            return None if value is None else float(value)

        stump_share = radius("stump_share")
        if stump_share is not None and stump_share >= MIN_LUMEN_SHARE:
            raise ValueError(f"'stump_share' must be below the lumen check's {MIN_LUMEN_SHARE}, found {stump_share!r}")
        bridges = section.get("bridges_mm", [])
        if not isinstance(bridges, list) or not all(isinstance(b, (int, float)) and b > 0 for b in bridges):
            raise ValueError(f"'bridges_mm' must be a list of positive numbers, found {bridges!r}")
        return cls(radius("enclosed_mm"), tuple(float(b) for b in bridges), radius("max_mean_hu"),
                   radius("split_holes_mm3"), radius("split_dim_hu"), stump_share)


# Two dilations by the 3x3x3 cube are one by the 5x5x5 cube, also in a box cut at the array's edge (the voxel halfway
# between a core voxel and one within two of it lies between them, so in the box): one pass of dilate instead of two
_NEAR = np.ones((5, 5, 5), bool)

SESSION17_RULE = CandidateRule(enclosed_mm=None, bridges_mm=(), max_mean_hu=None, split_holes_mm3=None,
                               split_dim_hu=None, stump_share=None)
DEFAULT_RULE = CandidateRule()
FEATURE_NAMES = ("log_mm3", "lumen_share", "bone_share", "air_share", "mean_hu", "sd_hu", "contrast_hu",
                 "radius_mm", "extent_z_mm", "extent_xy_mm", "fill_share", "depth_x", "depth_y", "depth_z")


def calibre_of(radius_mm: float) -> str:
    for name in CALIBRES:
        if radius_mm >= CALIBRE_MIN_RADIUS_MM[name]:
            return name
    return CALIBRES[-1]


@dataclass
class Candidate:
    """One candidate defect: its label in ``CandidateSet.labels`` and what describes it."""

    label: int
    voxels: int
    volume_mm3: float
    calibre: str
    radius_mm: float
    contrast_hu: float          # mean lumen HU of the shell minus the core's mean HU
    centroid_zyx: tuple[float, float, float]
    slice_range: tuple[int, int]
    features: np.ndarray        # FEATURE_NAMES, in that order

    def as_row(self, volume: Volume) -> dict:
        z, y, x = self.centroid_zyx
        return {"voxels": self.voxels, "volume_mm3": round(self.volume_mm3, 2), "calibre": self.calibre,
                "radius_mm": round(self.radius_mm, 2), "contrast_hu": round(self.contrast_hu, 1),
                "slice_range": [int(self.slice_range[0]), int(self.slice_range[1])],
                "centroid_zyx": [round(float(c), 2) for c in (z, y, x)],
                "centroid_lps_mm": [round(float(c), 2) for c in volume.index_to_lps((x, y, z))]}


@dataclass
class CandidateSet:
    """The candidates of one study: ``labels`` (z, y, x) int32, value k = ``candidates[k - 1]``; ``box``: where the
    labels may be non-zero (None: anywhere)."""

    labels: np.ndarray
    candidates: list[Candidate] = field(default_factory=list)
    region: np.ndarray | None = None
    box: tuple[slice, ...] | None = None

    def __len__(self) -> int:
        return len(self.candidates)

    def features(self) -> np.ndarray:
        if not self.candidates:
            return np.zeros((0, len(FEATURE_NAMES)), np.float32)
        return np.stack([c.features for c in self.candidates]).astype(np.float32)

    def mask_of(self, keep) -> np.ndarray:
        """Labelmap (uint16, value = rank in ``keep`` + 1) of the candidates whose indices ``keep`` lists."""
        lookup = np.zeros(len(self.candidates) + 1, np.uint16)
        for rank, index in enumerate(keep, start=1):
            lookup[index + 1] = rank
        return self.paint(lookup)

    def paint(self, lookup: np.ndarray) -> np.ndarray:
        """``lookup[labels]`` (``lookup[0]``: outside every candidate), looked up in ``box`` only: a CT-size gather
        costs more than the rest of a detector's scoring."""
        if self.box is None:
            return lookup[self.labels]
        painted = np.zeros(self.labels.shape, lookup.dtype) if lookup[0] == 0 else \
            np.full(self.labels.shape, lookup[0], lookup.dtype)
        painted[self.box] = lookup[self.labels[self.box]]
        return painted


def _relabel(cores: np.ndarray, kept: list[int]) -> np.ndarray:
    lookup = np.zeros(int(cores.max(initial=0)) + 1, np.int32)
    lookup[np.asarray(kept, int)] = np.arange(1, len(kept) + 1)
    return lookup[cores]


def _edt_lengths(offsets: np.ndarray, spacing_zyx: np.ndarray) -> np.ndarray:
    """Lengths (mm) of voxel ``offsets`` (3, ...) by ``ndimage.distance_transform_edt``'s own float64 operations in
    its order, so that a threshold of them matches a threshold of the transform voxel for voxel."""
    squares = offsets.astype(np.float64)
    for axis, step in enumerate(np.asarray(spacing_zyx, np.float64)):
        squares[axis, ...] *= step
    np.multiply(squares, squares, squares)
    return np.sqrt(np.add.reduce(squares, axis=0))


def _edt_ball(spacing_zyx: np.ndarray, radius_mm: float) -> np.ndarray:
    """The offsets whose distance, as the transform computes it, is at most ``radius_mm``: a threshold of that
    transform is a dilation or erosion by this ball, voxel for voxel."""
    reach = np.floor(radius_mm / spacing_zyx).astype(int) + 1
    offsets = np.indices(tuple(2 * reach + 1), dtype=np.int32) - reach.astype(np.int32)[:, None, None, None]
    return _edt_lengths(offsets, spacing_zyx) <= radius_mm


def _closed_lumen(lumen: np.ndarray, spacing_zyx: np.ndarray, radius_mm: float) -> np.ndarray:
    """Morphological closing of ``lumen`` by a ball of ``radius_mm``: the vessel as it would be without its filling
    defects. Defined by two exact distance transforms; computed as a dilation and an erosion by :func:`_edt_ball`
    (several times faster), except where a transform's input has no background voxel (its result is then the
    transform's own)."""
    ball = _edt_ball(spacing_zyx, radius_mm)
    if lumen.any():
        grown = dilate(lumen, ball)
    else:
        grown = ndimage.distance_transform_edt(~lumen, sampling=spacing_zyx) <= radius_mm
    if not grown.all():
        return erode(grown, ball, border_value=1)
    return ndimage.distance_transform_edt(grown, sampling=spacing_zyx) > radius_mm


def _ball(spacing_zyx: np.ndarray, radius_mm: float) -> np.ndarray:
    """The voxels within ``radius_mm`` of the centre voxel, as a structuring element."""
    offsets = np.ogrid[tuple(slice(-r, r + 1) for r in np.ceil(radius_mm / spacing_zyx).astype(int))]
    return sum((offset * step) ** 2 for offset, step in zip(offsets, spacing_zyx)) <= radius_mm ** 2 + 1e-6


def _closed_by_ball(mask: np.ndarray, spacing_zyx: np.ndarray, radius_mm: float, within: np.ndarray) -> np.ndarray:
    """The same closing as :func:`_closed_lumen`, by a small ball as structuring element (for a radius of a few voxels
    over a whole CT several times faster than two exact distance transforms); exact inside ``within``, not computed
    beyond the box that holds it (False there)."""
    closed = np.zeros(mask.shape, bool)
    reach = np.ceil(radius_mm / spacing_zyx).astype(int)
    # a closed voxel depends on the mask within twice the ball's reach
    box = box_of(within, 2 * reach)
    if box is None:
        return closed
    ball = _ball(spacing_zyx, radius_mm)
    closed[box] = erode(dilate(mask[box], ball), ball, border_value=1)
    return closed


def _opened_by_ball(mask: np.ndarray, spacing_zyx: np.ndarray, radius_mm: float) -> np.ndarray:
    """:func:`_thick` by a small ball as structuring element: the same voxels (the erosion treats the outside as
    mask, as the distance transform does), in a boolean array instead of two float64 distance maps."""
    ball = _ball(spacing_zyx, radius_mm)
    return dilate(erode(mask, ball, border_value=1), ball)


def _thick(mask: np.ndarray, spacing_zyx: np.ndarray, radius_mm: float) -> np.ndarray:
    """The parts of ``mask`` a ball of ``radius_mm`` fits in (a morphological opening defined by distance transforms;
    computed as :func:`_closed_lumen` is)."""
    ball = _edt_ball(spacing_zyx, radius_mm)
    if not mask.all():
        eroded = erode(mask, ball, border_value=1)
    else:
        eroded = ndimage.distance_transform_edt(mask, sampling=spacing_zyx) > radius_mm
    if eroded.any():
        return dilate(eroded, ball)
    return ndimage.distance_transform_edt(~eroded, sampling=spacing_zyx) <= radius_mm


def _dense_parts(core: np.ndarray, hu: np.ndarray, lumen: np.ndarray, spacing_zyx: np.ndarray) -> np.ndarray:
    """A large core without its fat: what joins a mediastinal clot to everything else is fat (about -100 HU, inside
    the clot-density range because partial-volume clots in small vessels reach that low). Each denser part up to
    ``SPLIT_MM3`` is kept whole; larger ones (heart wall, muscle) keep only what lies in the closed lumen of an
    artery, short of the parts thicker than a central clot."""
    smoothed = ndimage.uniform_filter(hu.astype(np.float32), size=(1, 3, 3))
    dense = core & (smoothed >= DENSE_MIN_HU)
    parts, count = ndimage.label(dense, structure=np.ones((3, 3, 3), bool))
    if not count:
        return dense
    sizes = np.bincount(parts[parts > 0], minlength=count + 1)[1:] * float(np.prod(spacing_zyx))
    small = np.concatenate([[False], sizes <= SPLIT_MM3])[parts]
    large = dense & ~small
    if not large.any():
        return small
    in_artery = large & _closed_lumen(lumen, spacing_zyx, ENVELOPE_MM) & ~_thick(large, spacing_zyx, CENTRAL_MM)
    return small | in_artery


def _split_margin(spacing_zyx: np.ndarray) -> np.ndarray:
    return np.maximum(1, np.rint((ENVELOPE_MM + 2) / spacing_zyx).astype(int))


def _context_margin(spacing_zyx: np.ndarray) -> np.ndarray:
    return np.maximum(1, np.rint(CONTEXT_MM / spacing_zyx).astype(int))


def _split_large_cores(cores: np.ndarray, rows: list[dict], hu: np.ndarray, spacing_zyx: np.ndarray,
                       boxes: list | None = None) -> np.ndarray:
    """Cores larger than ``SPLIT_MM3`` (a clot joined to mediastinal fat, heart wall or muscle) are cut by
    :func:`_dense_parts`; the others are kept whole. Returns a boolean clot mask. ``boxes``: the cores' boxes
    (``ndimage.find_objects(cores)``) where the caller has them."""
    keep = np.zeros(int(cores.max(initial=0)) + 1, bool)
    large = []
    for row in rows:
        if row["mm3"] > SPLIT_MM3:
            large.append(row["label"])
        elif row["mm3"] >= MIN_CANDIDATE_MM3:
            keep[row["label"]] = True
    mask = keep[cores]
    margin = _split_margin(spacing_zyx)
    if boxes is None:
        boxes = ndimage.find_objects(cores)
    # the cut works at millimetre scale: a grid of about WORKING_PIXEL_MM pixels is ten times cheaper and as good
    step = max(1, int(WORKING_PIXEL_MM // min(spacing_zyx[1], spacing_zyx[2])))
    coarse_spacing = spacing_zyx * np.array([1, step, step])
    for label in large:
        box = boxes[label - 1]
        grown = tuple(slice(max(0, s.start - m), min(n, s.stop + m)) for s, m, n in zip(box, margin, hu.shape))
        core = cores[grown] == label
        coarse_hu = hu[grown][:, ::step, ::step]
        coarse_core = core[:, ::step, ::step]
        lumen = (coarse_hu >= LUMEN_HU[0]) & (coarse_hu <= LUMEN_HU[1])
        kept = _dense_parts(coarse_core, coarse_hu, lumen, coarse_spacing)
        full = np.repeat(np.repeat(kept, step, axis=1), step, axis=2)[:, :core.shape[1], :core.shape[2]]
        mask[grown] |= core & full
    return mask


def _cut_oversized(clot: np.ndarray, spacing_zyx: np.ndarray, bridges_mm: tuple[float, ...]) -> np.ndarray:
    """Parts larger than ``MAX_CANDIDATE_MM3`` lose what is thinner than a ball of ``bridges_mm[0]``, and what is
    still too large after that the next radius, and so on: in a real mediastinum a central clot stays joined to
    artery walls and the tissue between the great vessels by thin bridges, and the whole would be dropped as too
    large. A part is cut only as far as it must be."""
    return _cut_and_label(clot, spacing_zyx, bridges_mm)[0]


def _cut_and_label(clot: np.ndarray, spacing_zyx: np.ndarray,
                   bridges_mm: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_cut_oversized`'s clot and its parts labelled (3x3x3 connectivity): where nothing is oversized, the
    labelling that looked for oversized parts is already that."""
    connected = np.ones((3, 3, 3), bool)
    voxel_mm3 = float(np.prod(spacing_zyx))

    def labelled(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels, count = ndimage.label(mask, structure=connected)
        sizes = np.bincount(labels[labels > 0], minlength=count + 1)[1:] * voxel_mm3
        return labels, np.flatnonzero(sizes > MAX_CANDIDATE_MM3) + 1

    def parts(labels: np.ndarray, oversized: np.ndarray, at: tuple[slice, ...]):
        """(box in ``clot``, part within it) of each ``oversized`` label of ``labels`` (a box of ``clot`` at
        ``at``)."""
        boxes = ndimage.find_objects(labels) if oversized.size else []
        for label in oversized:
            box = boxes[label - 1]
            yield (tuple(slice(o.start + b.start, o.start + b.stop) for o, b in zip(at, box)),
                   labels[box] == label)

    labels, oversized = labelled(clot)
    if not oversized.size:
        return clot, labels
    # a cut only removes voxels, so each oversized part is cut on its own, in its own box, and only its parts still
    # too large go on to the next radius
    pending = list(parts(labels, oversized, tuple(slice(0, n) for n in clot.shape)))
    del labels
    for bridge_mm in bridges_mm:
        still = []
        for box, part in pending:
            view = clot[box]
            view[part] = _opened_by_ball(part, spacing_zyx, bridge_mm)[part]
            still.extend(parts(*labelled(view & part), box))
        pending = still
    return clot, ndimage.label(clot, structure=connected)[0]


def _split_at_lumen_holes(labels: np.ndarray, hu: np.ndarray, voxel_mm3: float, min_mm3: float) -> np.ndarray:
    """Candidates of at least ``min_mm3`` cut into what lies in a hole of the lumen in its slice (a defect the
    contrast surrounds: the polo-mint sign) and the rest, each part its own candidate. In a real hilum a clot is
    joined through the artery's wall to a vein or a bronchus at clot density, and the whole (several times the clot)
    looks like no clot at all. The rest keeps a gap of one voxel to the holes' parts, so that candidates stay disjoint
    26-connected components."""
    sizes = np.bincount(labels.ravel()) * voxel_mm3
    large = sizes >= min_mm3
    large[0] = False
    if not large.any():
        return labels
    lumen = (hu >= LUMEN_HU[0]) & (hu <= LUMEN_HU[1])
    in_large = large[labels]
    in_holes = in_large & fill_holes_in_plane(lumen) & ~lumen
    if not in_holes.any():
        return labels
    return _cut_apart(labels, in_large, in_holes)


def _cut_apart(labels: np.ndarray, cut: np.ndarray, part: np.ndarray) -> np.ndarray:
    """The candidates under ``cut`` renumbered as the components of ``part`` (within them) and of the rest, which
    keeps a gap of one voxel to ``part`` so that candidates stay disjoint 26-connected components. Parts below the
    smallest candidate are left to find_candidates' size check."""
    connected = np.ones((3, 3, 3), bool)
    rest = cut & ~dilate(part, connected)
    kept = np.where(cut, 0, labels)
    for piece in (part, rest):
        parts, _ = ndimage.label(piece, structure=connected)
        top = int(kept.max(initial=0))
        kept[parts > 0] = parts[parts > 0] + top
    return kept


SPLIT_DIM_AIR_SHARE = 0.1  # experiment 26e: of the candidate's shell, lung (in the mediastinum every vessel is dim)


def _split_dim_parts(labels: np.ndarray, hu: np.ndarray, voxel_mm3: float, ceiling_hu: float,
                     min_mm3: float) -> np.ndarray:
    """Experiments 26c and 26e: candidates in the lung (``SPLIT_DIM_AIR_SHARE`` of their shell) of at least
    ``min_mm3``, on average at least ``ceiling_hu``, with at least a candidate's volume on each side of it, cut into
    what lies below it and the rest (:func:`_cut_apart`): a clot touching a dim vein (a third to two thirds of the
    lumen's enhancement, at clot density at its edges) is otherwise one candidate with the vein, mostly vein."""
    flat = labels.ravel()
    count = int(labels.max(initial=0))
    low = hu < ceiling_hu
    voxels = np.bincount(flat, minlength=count + 1)
    sizes = voxels * voxel_mm3
    below = np.bincount(flat, weights=low.ravel(), minlength=count + 1) * voxel_mm3
    mean_hu = np.bincount(flat, weights=hu.ravel().astype(np.float64), minlength=count + 1) / np.maximum(1, voxels)
    # mostly vessel: a clot whose edges partial volume lifts over the ceiling is left whole
    mixed = (sizes >= min_mm3) & (below >= MIN_CANDIDATE_MM3) & (sizes - below >= MIN_CANDIDATE_MM3) \
        & (mean_hu >= ceiling_hu)
    mixed[0] = False
    if not mixed.any():
        return labels
    boxes = ndimage.find_objects(labels)
    for label in np.flatnonzero(mixed):
        box = grown_box(boxes[label - 1], np.array([2, 2, 2]), labels.shape)
        core = labels[box] == label
        shell = hu[box][dilate(core, _NEAR) & ~core]
        mixed[label] = shell.size > 0 and np.mean(shell < -400) >= SPLIT_DIM_AIR_SHARE
    in_mixed = mixed[labels]
    return _cut_apart(labels, in_mixed, in_mixed & low)


def long_axis_mm(mask: np.ndarray, spacing_zyx: np.ndarray) -> float:
    """The length (mm) of ``mask`` along its voxels' first principal direction, end voxels included."""
    points = np.argwhere(mask) * spacing_zyx
    if len(points) < 2:
        return float(spacing_zyx.min())
    centred = points - points.mean(axis=0)
    axis = np.linalg.eigh(centred.T @ centred)[1][:, -1]
    return float(np.ptp(centred @ axis) + np.abs(axis) @ spacing_zyx)


def _is_stump(core: np.ndarray, mean_hu: float, mm3: float, spacing_zyx: np.ndarray) -> bool:
    """Experiment 27: whether a candidate whose shell is less than ``MIN_LUMEN_SHARE`` lumen is shaped as an
    occlusive clot filling a small artery beyond its stump (see ``STUMP_*``)."""
    return (STUMP_MM3[0] <= mm3 <= STUMP_MM3[1] and mean_hu <= STUMP_MAX_HU
            and long_axis_mm(core, spacing_zyx) >= STUMP_MIN_MM)


def vessel_radius(hu: np.ndarray, labels: np.ndarray, label: int, box: tuple[slice, ...],
                   spacing_zyx: np.ndarray) -> float:
    """Local radius (mm) of the vessel a candidate sits in: the largest distance to the wall of lumen-or-core within
    the candidate and its 2-voxel shell, measured in a box ``CONTEXT_MM`` around it (radii up to that are exact)."""
    margin = _context_margin(spacing_zyx)
    grown = grown_box(box, margin, hu.shape)
    local = hu[grown]
    core = labels[grown] == label
    vessel = (local >= LUMEN_HU[0]) & (local <= LUMEN_HU[1]) | core
    near = dilate(core, _NEAR) & vessel
    # the transform's distances at the near voxels only, by its own float64 operations in its order: the whole box's
    # distances cost more than the feature transform itself
    nearest = ndimage.distance_transform_edt(vessel, sampling=spacing_zyx, return_distances=False,
                                             return_indices=True)
    where = np.nonzero(near)
    return float(_edt_lengths(nearest[(slice(None),) + where] - np.array(where, np.int32), spacing_zyx).max())


def embolus_calibres(hu: np.ndarray, instances: np.ndarray, count: int, spacing_xyz) -> list[str]:
    """The calibre class of each true embolus (instances 1..count) by the candidates' own rule, measured on the CT:
    for scoring sensitivity per calibre on any study with voxel truth (evaluation only)."""
    sx, sy, sz = (float(s) for s in spacing_xyz)
    boxes = ndimage.find_objects(np.asarray(instances, np.int32), max_label=count)
    return [calibre_of(vessel_radius(hu, instances, k, box, np.array([sz, sy, sx]))) if box is not None
            else "unknown" for k, box in enumerate(boxes, start=1)]


def _reach(spacing_zyx: np.ndarray, rule: CandidateRule) -> np.ndarray:
    """The farthest (voxels per axis) that any step of :func:`find_candidates` reads beyond the region: a core's
    shell, the box a large core is cut in, a candidate's vessel context, the lumen closing's box."""
    shell = max(1, int(round(SHELL_MM / min(spacing_zyx[1], spacing_zyx[2]))))
    reach = np.maximum.reduce([np.array([1, shell, shell]), _split_margin(spacing_zyx),
                               _context_margin(spacing_zyx), np.full(3, 2)])
    if rule.enclosed_mm is not None:
        reach = np.maximum(reach, 2 * np.ceil(rule.enclosed_mm / spacing_zyx).astype(int))
    return reach


def find_candidates(volume: Volume, region: np.ndarray | None = None, *,
                    rule: CandidateRule = DEFAULT_RULE) -> CandidateSet:
    """Candidate filling defects of a CT ``volume`` (HU) inside ``region`` (default: its chest region), by ``rule``
    (the optional steps of the module's docstring)."""
    enclosed_mm, bridges_mm, max_mean_hu = rule.enclosed_mm, rule.bridges_mm, rule.max_mean_hu
    full_hu = np.asarray(volume.array)
    sx, sy, sz = (float(s) for s in volume.spacing)
    spacing_zyx = np.array([sz, sy, sx])
    voxel_mm3 = float(np.prod(spacing_zyx))
    if region is None:
        region = chest_region(full_hu, volume.spacing)
    full_region = region
    region_box = box_of(region, (0, 0, 0))
    if region_box is None:
        return CandidateSet(np.zeros(full_hu.shape, np.int32), [], full_region)
    # Every step reads at most _reach beyond the region, so all of them run in the region's box grown by that (a
    # third of a CT's box): each box below clipped at this crop's edge is clipped as at the CT's, the labels number in
    # the same raster order, and positions are given back in the CT's voxels.
    crop = grown_box(region_box, _reach(spacing_zyx, rule), full_hu.shape)
    offset = np.array([s.start for s in crop])
    hu, region = full_hu[crop], region[crop]
    enclosed = None
    if enclosed_mm is not None:
        lumen = (hu >= LUMEN_HU[0]) & (hu <= LUMEN_HU[1])
        enclosed = _closed_by_ball(lumen, spacing_zyx, enclosed_mm, within=region)
        del lumen
    # cores smaller than a candidate are dropped below whatever their shells: not measured
    cores, rows, core_boxes = cores_and_boxes(region, hu, volume.spacing, keep_unopened=enclosed,
                                              min_mm3=MIN_CANDIDATE_MM3)
    del enclosed
    stump_share = MIN_LUMEN_SHARE if rule.stump_share is None else rule.stump_share
    # a core too large to be one vessel's segment keeps the full lumen check; what a core below it gives is a
    # candidate only if stump-shaped
    stump_cores = [r["label"] for r in rows
                   if r["mm3"] <= SPLIT_MM3 and stump_share <= r["lumen_share"] < MIN_LUMEN_SHARE]
    is_stump_core = np.zeros(int(cores.max(initial=0)) + 1, bool)
    is_stump_core[stump_cores] = True
    stump_only = is_stump_core[cores] if stump_cores else None
    passing = [r for r in rows if r["lumen_share"] >= MIN_LUMEN_SHARE or is_stump_core[r["label"]]]
    clot = _split_large_cores(cores, passing, hu, spacing_zyx, core_boxes)
    del cores  # an int32 array of the crop's size: not held while the cut labels the clot mask again
    if bridges_mm:
        clot, labels = _cut_and_label(clot, spacing_zyx, bridges_mm)
    else:
        labels = ndimage.label(clot, structure=np.ones((3, 3, 3), bool))[0]
    if rule.split_holes_mm3 is not None:
        labels = _split_at_lumen_holes(labels, hu, voxel_mm3, rule.split_holes_mm3)
    if rule.split_dim_hu is not None:
        labels = _split_dim_parts(labels, hu, voxel_mm3, rule.split_dim_hu, SPLIT_HOLES_MM3)
    region_lo = np.array([s.start for s in region_box], float)
    region_size = np.maximum(1.0, np.array([s.stop - s.start for s in region_box], float))
    candidates = []
    kept = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        grown = tuple(slice(max(0, s.start - 2), min(n, s.stop + 2)) for s, n in zip(box, hu.shape))
        local_hu = hu[grown].astype(np.float32)
        core = labels[grown] == label
        voxels = int(core.sum())
        if not MIN_CANDIDATE_MM3 <= voxels * voxel_mm3 <= MAX_CANDIDATE_MM3:
            continue
        core_hu = local_hu[core]
        if max_mean_hu is not None and core_hu.mean() >= max_mean_hu:
            continue
        near = dilate(core, _NEAR)
        shell_hu = local_hu[near & ~core]
        in_lumen = (shell_hu >= LUMEN_HU[0]) & (shell_hu <= LUMEN_HU[1])
        lumen_share = float(in_lumen.mean()) if shell_hu.size else 0.0
        bone_share = float(np.mean(shell_hu > BONE_HU)) if shell_hu.size else 0.0
        if bone_share > MAX_BONE_SHARE or lumen_share < stump_share:
            continue
        from_stump_core = stump_only is not None and bool(stump_only[grown][core].any())
        if (lumen_share < MIN_LUMEN_SHARE or from_stump_core) and not _is_stump(
                core, float(core_hu.mean()), voxels * voxel_mm3, spacing_zyx):
            continue
        radius = vessel_radius(hu, labels, label, box, spacing_zyx)
        contrast = float(shell_hu[in_lumen].mean() - core_hu.mean()) if in_lumen.any() else 0.0
        air_share = float(np.mean(shell_hu < -400)) if shell_hu.size else 0.0
        zz, yy, xx = np.nonzero(core)
        start = [int(g.start + o) for g, o in zip(grown, offset)]
        centroid = np.array([zz.mean() + start[0], yy.mean() + start[1], xx.mean() + start[2]])
        extent = (np.array([np.ptp(zz), np.ptp(yy), np.ptp(xx)]) + 1) * spacing_zyx
        bbox_voxels = float(np.prod([s.stop - s.start for s in box]))
        depth = (centroid - region_lo) / region_size
        features = np.array([
            np.log(voxels * voxel_mm3), lumen_share, bone_share, air_share, core_hu.mean(), core_hu.std(),
            contrast, radius, extent[0], max(extent[1], extent[2]), voxels / bbox_voxels,
            abs(depth[2] - 0.5), depth[1], depth[0]], np.float32)
        kept.append(label)
        first = int(box[0].start + offset[0])
        candidates.append(Candidate(
            label=len(kept), voxels=voxels, volume_mm3=voxels * voxel_mm3, calibre=calibre_of(radius),
            radius_mm=radius, contrast_hu=contrast,
            centroid_zyx=(float(centroid[0]), float(centroid[1]), float(centroid[2])),
            slice_range=(first, first + int(box[0].stop - box[0].start) - 1), features=features))
    full_labels = np.zeros(full_hu.shape, np.int32)
    full_labels[crop] = _relabel(labels, kept)
    return CandidateSet(full_labels, candidates, full_region, crop)
