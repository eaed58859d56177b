"""Model files: weights as safetensors plus a JSON model card beside them (``name.safetensors`` + ``name.json``).

Pickle-based checkpoints (``torch.save``) are refused: loading one runs arbitrary code, and models reach
radiologists as downloads. The card says what the weights are (architecture and its arguments, input size, HU
windows, threshold, training data and command, metrics) so that a model is never run on input it was not made for.
Training checkpoints (resumable state, optimizer included) are separate and loaded with ``weights_only=True``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

from .errors import ModelFileError
from .outputs import atomic_output, check_can_write
from .jsonfile import read_json

CARD_FORMAT = "iexplain-model"
CARD_VERSION = 1
MODEL_KINDS = ("classifier", "segmenter")
# The demo models ship in the repository's Resources/Models (the Slicer extension installs them beside the module);
# IEXPLAIN_MODELS_DIR points elsewhere, e.g. at a site-wide model folder on a cluster.
BUNDLED_MODELS_DIR = Path(os.environ.get("IEXPLAIN_MODELS_DIR",
                                         Path(__file__).resolve().parents[1] / "Resources" / "Models"))


def bundled_model(name: str) -> Path:
    """Weights path of a bundled model, e.g. ``bundled_model("demo-classifier")``."""
    return BUNDLED_MODELS_DIR / f"{name}.safetensors"


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, card)`` paths for a model given as its .safetensors, its .json card or their common stem."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        stem = path.with_suffix("")
    else:
        stem = path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(path: str | Path, state_dict: dict, card: dict[str, Any], overwrite: bool = False) -> Path:
    """Write weights and card atomically; returns the weights path. ``card`` needs ``kind`` and ``architecture``."""
    from safetensors.torch import save_file

    weights_path, card_path = model_paths(path)
    for required in ("kind", "architecture"):
        if required not in card:
            raise ValueError(f"a model card needs '{required}'")
    check_can_write(weights_path, overwrite)
    check_can_write(card_path, overwrite)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}
    with atomic_output(weights_path, overwrite) as temporary:
        save_file(tensors, str(temporary), metadata={"format": CARD_FORMAT, "kind": card["kind"]})
    full_card = {
        "format": CARD_FORMAT,
        "format_version": CARD_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **card,
        "weights_file": weights_path.name,
        "sha256": sha256_of(weights_path),
        "size_bytes": weights_path.stat().st_size,
    }
    with atomic_output(card_path, overwrite) as temporary:
        temporary.write_text(json.dumps(full_card, indent=2) + "\n", encoding="utf-8")
    return weights_path


def _refuse_non_safetensors(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(16)
    # A safetensors header length of 128 (+256k) bytes also starts with 0x80: only call it a pickle when the
    # bytes are not a plausible safetensors header.
    looks_safetensors = len(head) >= 9 and head[8:9] == b"{"
    if head.startswith(b"PK\x03\x04") or (head[:1] == b"\x80" and not looks_safetensors):
        raise ModelFileError(
            f"{path} is a PyTorch pickle checkpoint, not safetensors; IExplain does not load pickles because they "
            "can run code (convert it with safetensors.torch.save_file)")
    if len(head) < 9:
        raise ModelFileError(f"{path} is truncated or empty (not a safetensors file)")
    header_length = struct.unpack("<Q", head[:8])[0]
    if head[8:9] != b"{" or header_length > path.stat().st_size:
        raise ModelFileError(f"{path} is not a safetensors file (or it is truncated)")


def read_card(path: str | Path) -> dict[str, Any]:
    """The JSON model card of a model, validated."""
    _, card_path = model_paths(path)
    if not card_path.exists():
        raise ModelFileError(f"model card {card_path} not found (a model is a .safetensors file plus its .json card)")
    card = read_json(card_path, "model card", ModelFileError)
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelFileError(f"{card_path} is not an IExplain model card (format != {CARD_FORMAT!r})")
    if card.get("kind") not in MODEL_KINDS:
        raise ModelFileError(f"{card_path}: unknown model kind {card.get('kind')!r}")
    return card


def load_model_file(path: str | Path, expected_kind: str | None = None,
                    verify_checksum: bool = True) -> tuple[dict, dict[str, Any]]:
    """Load ``(state_dict, card)``; refuses pickles, truncated files, wrong kinds and checksum mismatches."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path, _ = model_paths(path)
    if not weights_path.exists():
        raise ModelFileError(f"model file {weights_path} not found")
    _refuse_non_safetensors(weights_path)
    card = read_card(path)
    if expected_kind and card["kind"] != expected_kind:
        raise ModelFileError(f"{weights_path} is a {card['kind']} model, but a {expected_kind} is needed here")
    if verify_checksum and card.get("sha256") and sha256_of(weights_path) != card["sha256"]:
        raise ModelFileError(f"{weights_path} does not match the checksum in its card (corrupt or replaced file)")
    try:
        state_dict = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(f"{weights_path} cannot be read as safetensors: {error}") from error
    return state_dict, card


def load_state_into(module, state_dict: dict, source: str | Path) -> None:
    """``module.load_state_dict`` (strict) that explains an architecture mismatch in one line."""
    try:
        module.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0] if str(error) else "state dict mismatch"
        missing = set(module.state_dict()) - set(state_dict)
        unexpected = set(state_dict) - set(module.state_dict())
        detail = f"{len(missing)} missing and {len(unexpected)} unexpected tensors" if missing or unexpected else first
        raise ModelFileError(f"{source} does not fit the architecture in its card ({detail})") from error
