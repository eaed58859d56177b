"""Running a segmenter on a study: MONAI sliding-window inference, streamed in z-slabs, then threshold, connected
components and the Stage-2 cluster filters.

Memory stays bounded for long studies: the CT is windowed, resampled and run through the network one slab of
slices at a time (each slab carries half a window of context above and below, which is dropped after inference),
and each slab's probability goes straight back onto the CT grid. The only full-size arrays are the caller's CT, the
float32 probability and the uint8 mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import InputError
from ..progress import QUIET
from .preprocess import network_inplane_shape, to_ct_grid, to_network_image
from .spec import SegmenterSpec, build_network, complete_state_dict

if TYPE_CHECKING:
    import torch

DEFAULT_SLAB_WINDOWS = 4  # slab core = 4 window depths: bounded memory, few slab seams


@dataclass
class LoadedSegmenter:
    network: torch.nn.Module
    spec: SegmenterSpec
    card: dict = field(default_factory=dict)
    device: torch.device | None = None
    path: Path | None = None


def load_segmenter(path: str | Path, device: str = "auto") -> LoadedSegmenter:
    """A segmenter model file (safetensors + card) ready for inference on ``device``."""
    from ..devices import resolve_device
    from ..modelfile import load_model_file, load_state_into

    state, card = load_model_file(path, expected_kind="segmenter")
    spec = SegmenterSpec.from_card(card)
    network = build_network(spec)
    load_state_into(network, complete_state_dict(network, state), path)
    chosen = resolve_device(device)
    network.to(chosen).eval()
    return LoadedSegmenter(network, spec, card, chosen, Path(path))


def _slab_bounds(slices: int, roi_z: int, slab_windows: int):
    """(read_start, read_stop, keep_start, keep_stop) per slab: the kept core plus half a window each side."""
    core = max(roi_z, slab_windows * roi_z)
    margin = roi_z // 2
    for keep_start in range(0, slices, core):
        keep_stop = min(slices, keep_start + core)
        yield max(0, keep_start - margin), min(slices, keep_stop + margin), keep_start, keep_stop


def segment_probability(volume, loaded: LoadedSegmenter, progress: Callable = QUIET, sw_batch_size: int = 4,
                        slab_windows: int | None = DEFAULT_SLAB_WINDOWS) -> np.ndarray:
    """PE probability (float32, (z, y, x), on the CT grid) of a :class:`~IExplainLib.volume.Volume` in HU.

    ``slab_windows=None`` runs the whole study at once (the straightforward reference; more memory).
    """
    import torch
    from monai.inferers import sliding_window_inference

    array = volume.array
    if array.ndim != 3 or min(array.shape) < 1:
        raise InputError(f"the segmenter needs a 3D volume, got shape {array.shape}")
    spec = loaded.spec
    spacing_xy = volume.spacing[:2]
    net_shape = network_inplane_shape(array.shape[1:], spacing_xy, spec.inplane_spacing_mm)
    slices = array.shape[0]
    probability = np.zeros(array.shape, dtype=np.float32)
    bounds = list(_slab_bounds(slices, spec.patch_size[0], slab_windows or 10 ** 9))

    def predictor(batch):
        logits = loaded.network(batch)
        return torch.softmax(logits.float(), dim=1)[:, 1:2]

    for index, (read_start, read_stop, keep_start, keep_stop) in enumerate(bounds):
        image = to_network_image(array[read_start:read_stop], spacing_xy, spec)
        tensor = torch.from_numpy(image)[None, None].to(loaded.device)
        with torch.inference_mode():
            output = sliding_window_inference(
                tensor, roi_size=spec.patch_size, sw_batch_size=sw_batch_size, predictor=predictor,
                overlap=spec.overlap, mode="gaussian", sigma_scale=spec.sigma_scale, padding_mode="constant",
                cval=0.0)
        assert isinstance(output, torch.Tensor)  # MONAI returns what predictor returns: one tensor
        slab = output[0, 0].float().cpu().numpy()[keep_start - read_start:keep_stop - read_start]
        del tensor
        probability[keep_start:keep_stop] = np.clip(to_ct_grid(slab, array.shape[1:]), 0, 1)
        progress("segment", (index + 1) / len(bounds), f"slices {keep_start}-{keep_stop - 1} of {slices}",
                 network_grid=list((slices, *net_shape)))
    return probability


def detect_with_segmenter(volume, model_path, device: str = "auto", progress: Callable | None = None,
                          threshold: float | None = None, min_voxels: int = 100, max_center_distance_px: float = 160,
                          filter: bool = True,
                          loaded: LoadedSegmenter | None = None, filters=None) -> tuple[np.ndarray, np.ndarray]:
    """``(mask uint8 (z, y, x), probability float32 (z, y, x))`` of one study.

    The mask is the thresholded probability (threshold from the model card unless given) with the paper's cluster
    filters (``findings.filter_findings``: clusters under ``min_voxels`` or farther than ``max_center_distance_px``
    from the image centre, both defined on 512x512 slices and scaled to the study's matrix). ``filters``: an
    ``ExplainParams`` whose filter settings (``finding_filters.keep_findings``: location, defect check, sizes) replace
    these arguments; without it the model card's ``explain`` section gives the location filter and defect check.
    """
    from ..explain.params import params_for_model
    from ..finding_filters import keep_findings

    progress = progress or QUIET
    loaded = loaded or load_segmenter(model_path, device)
    probability = segment_probability(volume, loaded, progress)
    cut = loaded.spec.threshold if threshold is None else float(threshold)
    if not 0.0 < cut < 1.0:
        raise InputError(f"threshold must lie between 0 and 1, got {cut}")
    mask = probability >= cut
    if filters is None:  # the card's filter settings (location, defect check), sizes as given
        filters = params_for_model(loaded.card).replace(filter=filter, min_cluster_voxels=min_voxels,
                                                        max_center_distance_px=max_center_distance_px)
    if filters.filter:
        mask = keep_findings(mask, filters, volume)
    return mask.astype(np.uint8), probability


def segmenter_detection(volume, model: str | Path, params=None, device: str = "auto", progress: Callable | None = None,
                        loaded: LoadedSegmenter | None = None):
    """The segmenter on one study as a :class:`~IExplainLib.detection.Detection`, like iExplain's: the filtered
    mask (``params``: an ``ExplainParams`` whose filter settings apply; default the card's), the probability map
    as its heat, findings rows with ``peak_probability``."""
    from ..detection import Detection, describe_study_findings
    from ..explain.params import params_for_model

    loaded = loaded or load_segmenter(model, device)
    params = params if params is not None else params_for_model(loaded.card)
    mask, probability = detect_with_segmenter(volume, model, progress=progress, loaded=loaded, filters=params)
    labelmap = (np.asarray(mask) > 0).astype(np.uint8)
    rows = describe_study_findings(labelmap, volume, probability, peak_name="peak_probability")
    return Detection(volume.with_array(labelmap), volume.with_array(np.asarray(probability, dtype=np.float32)),
                     int(labelmap.max(initial=0)), rows, {"voxels": int(labelmap.sum())}, method="segmenter")
