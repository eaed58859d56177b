"""Finetuning a segmenter on a few corrected cases, or training the same network from random initialisation on
them (the paper's Table 5 comparison). Both follow the same schedule (paper: AdamW lr 1e-5, 10k iterations, 200
warmup, linear decay to 1e-7)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..errors import InputError
from .spec import SegmenterSpec
from .train import TrainConfig

FINETUNE_DEFAULTS = TrainConfig(iterations=10000, lr=1e-5, warmup=200, final_lr=1e-7)


def starting_point(source: str, like: str | None = None, spec: SegmenterSpec | None = None
                   ) -> tuple[SegmenterSpec, dict | None, dict]:
    """``(spec, initial weights or None, provenance)`` for ``--from MODEL`` or ``--from scratch``.

    From scratch, the architecture is copied from ``like`` (a model file) or given as ``spec``.
    """
    from ..modelfile import load_model_file, read_card

    if source == "scratch":
        if like:
            card = read_card(like)
            if card.get("kind") != "segmenter":
                raise InputError(f"{like} is a {card.get('kind')} model, not a segmenter")
            return SegmenterSpec.from_card(card), None, {"init": "random", "architecture_from": str(like)}
        if spec is None:
            raise InputError("--from scratch needs the architecture: --like MODEL or the architecture options")
        return spec, None, {"init": "random"}
    if not Path(source).with_suffix(".safetensors").exists() and not Path(source).exists():
        raise InputError(f"model {source} not found (use a segmenter model file or 'scratch')")
    state, card = load_model_file(source, expected_kind="segmenter")
    base = SegmenterSpec.from_card(card)
    return base, state, {"init": "pretrained", "pretrained_from": str(source),
                         "pretrained_sha256": card.get("sha256"),
                         "pretrained_training": card.get("training", {}).get("data")}


def finetune_config(**overrides) -> TrainConfig:
    """The finetuning schedule with the given fields changed (None values keep the default)."""
    return replace(FINETUNE_DEFAULTS, **{k: v for k, v in overrides.items() if v is not None})
