"""Whole training runs from folders: read the cases, train, describe the data in the model card.
Shared by ``train-segmenter``, ``finetune`` and ``segmenter-report``."""

from __future__ import annotations

from pathlib import Path

from ..progress import QUIET
from .data import describe_data, list_training_files, load_training_arrays
from .spec import SegmenterSpec
from .train import TrainConfig, train_segmenter


def run_training(out: str | Path, spec: SegmenterSpec, config: TrainConfig, images=None, labels=None,
                 init_state: dict | None = None, card: dict | None = None, device: str = "auto",
                 checkpoint=None, progress=QUIET, overwrite: bool = False, restart: bool = False,
                 command: str | None = None) -> Path | None:
    from ..outputs import check_can_write
    from ..modelfile import model_paths

    for path in model_paths(out):  # refuse before spending minutes reading data
        check_can_write(path, overwrite)
    files = list_training_files(images, labels)
    arrays = load_training_arrays(files, spec, progress, seed=config.seed)
    card = dict(card or {})
    training = dict(card.get("training", {}))
    training["data"] = {"images": str(images) if images else None, "labels": str(labels) if labels else None,
                        **describe_data(files, arrays)}
    if command:
        training["command"] = command
    card["training"] = training
    return train_segmenter(arrays, spec, config, out, card=card, init_state=init_state, checkpoint=checkpoint,
                           device=device, progress=progress, overwrite=overwrite, restart=restart)
