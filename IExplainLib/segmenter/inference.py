"""Running a segmenter on a study (:class:`Segmenter`, a detector like ``IExplainer``): MONAI sliding-window
inference, streamed in z-slabs, then threshold, connected components and the Stage-2 cluster filters.

Memory stays bounded for long studies: the CT is windowed, resampled and run through the network one slab of
slices at a time (each slab carries half a window of context above and below, which is dropped after inference),
and each slab's probability goes straight back onto the CT grid. The only full-size arrays are the caller's CT, the
float32 probability and the uint8 mask (and, for a segmenter that reads the candidates' channel, their bool map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import InputError
from ..progress import QUIET
from .preprocess import guidance_map, network_inplane_shape, to_ct_grid, to_network_input
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
    guidance = guidance_map(volume, spec)

    def predictor(batch):
        logits = loaded.network(batch)
        return torch.softmax(logits.float(), dim=1)[:, 1:2]

    for index, (read_start, read_stop, keep_start, keep_stop) in enumerate(bounds):
        image = to_network_input(array[read_start:read_stop], spacing_xy, spec,
                                 None if guidance is None else guidance[read_start:read_stop])
        tensor = torch.from_numpy(image)[None].to(loaded.device)
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


class Segmenter:
    """The segmenter as a detector, as :class:`~IExplainLib.explain.IExplainer` is: the model loaded once in
    ``__init__``, one study per :meth:`explain`.

    ``model``: a model file or a :class:`LoadedSegmenter`. ``params``: the one place the cluster filters come from,
    an ``ExplainParams`` whose filter settings apply (``finding_filters.keep_findings``: sizes, location, defect
    check; ``filter=False``: none); default the model card's ``explain`` section (``params_for_model``).
    ``threshold``: the probability a voxel needs (default the card's)."""

    def __init__(self, model: str | Path | LoadedSegmenter, params=None, device: str = "auto",
                 threshold: float | None = None):
        from ..explain.params import params_for_model

        self.loaded = model if isinstance(model, LoadedSegmenter) else load_segmenter(model, device)
        self.params = params if params is not None else params_for_model(self.loaded.card)
        self.threshold = self.loaded.spec.threshold if threshold is None else float(threshold)
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"threshold must lie between 0 and 1, got {self.threshold}")

    @property
    def card(self) -> dict:
        return self.loaded.card

    def segment(self, volume, progress: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(mask uint8 (z, y, x), probability float32 (z, y, x))`` of one study: the probability at or above the
        threshold, then the filters."""
        from ..finding_filters import keep_findings

        probability = segment_probability(volume, self.loaded, progress or QUIET)
        mask = probability >= self.threshold
        if self.params.filter:
            mask = keep_findings(mask, self.params, volume)
        return mask.astype(np.uint8), probability

    def explain(self, volume, progress: Callable | None = None):
        """The segmenter on one study as a :class:`~IExplainLib.detection.Detection`, like iExplain's: the
        filtered mask, the probability map as its heat, findings rows with ``peak_probability``."""
        from ..detection import Detection, describe_study_findings

        mask, probability = self.segment(volume, progress)
        labelmap = (mask > 0).astype(np.uint8)
        rows = describe_study_findings(labelmap, volume, probability, peak_name="peak_probability")
        return Detection(volume.with_array(labelmap), volume.with_array(probability), int(labelmap.max(initial=0)),
                         rows, {"voxels": int(labelmap.sum())}, method="segmenter")

