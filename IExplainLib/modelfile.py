"""Model files: weights as safetensors plus a JSON model card beside them (``name.safetensors`` + ``name.json``).

Pickle-based checkpoints (``torch.save``) are refused: loading one runs arbitrary code, and models reach
radiologists as downloads. The card says what the weights are (architecture and its arguments, input size, HU
windows, threshold, training data and command, metrics) so that a model is never run on input it was not made for.
Training checkpoints (resumable state, optimizer included) are separate and loaded with ``weights_only=True``.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import hashlib
import json
import math
import os
import re
import struct
import types
import typing
from pathlib import Path
from typing import Any, NoReturn

from .errors import IExplainError, ModelFileError
from .outputs import atomic_output, check_can_write
from .jsonfile import read_json

CARD_FORMAT = "iexplain-model"
CARD_VERSION = 1
MODEL_KINDS = ("classifier", "segmenter", "reducer")
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


def read_card(path: str | Path, expected_kind: str | None = None) -> dict[str, Any]:
    """The JSON model card of a model, validated; ``expected_kind`` refuses another kind of model first (its card
    is then not checked against a schema it was never meant for)."""
    _, card_path = model_paths(path)
    if not card_path.exists():
        raise ModelFileError(f"model card {card_path} not found (a model is a .safetensors file plus its .json card)")
    card = read_json(card_path, "model card", ModelFileError)
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ModelFileError(f"{card_path} is not an IExplain model card (format != {CARD_FORMAT!r})")
    if card.get("kind") not in MODEL_KINDS:
        raise ModelFileError(f"{card_path}: unknown model kind {card.get('kind')!r}")
    if expected_kind and card["kind"] != expected_kind:
        weights_path, _ = model_paths(path)
        raise ModelFileError(f"{weights_path} is a {card['kind']} model, but a {expected_kind} is needed here")
    validate_card(card, card_path)
    return card


# The card sections this version knows, each with the JSON type it must have. Sections not listed here are kept
# and passed through unchecked: other tools (and newer IExplain versions) add their own, e.g. "candidates".
_TEXT_FIELDS = ("created", "iexplain_version", "channel_order", "weights_file", "name", "license", "licence",
                "description")
_OBJECT_FIELDS = ("spec", "training", "metrics", "explain", "explain_tuning")


def _json_text(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _expected(hint: Any, plural: bool = False) -> str:
    """How a dataclass field's type reads in a message: ``int`` -> "an integer", ``float | None`` -> "a number or
    null", ``tuple[int, int, int]`` -> "a list of 3 integers" (``plural``: "integers", "lists of 3 integers")."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_expected(arg, plural) for arg in args)
    if origin in (list, tuple):
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            items = _expected(args[0], plural=True)
        elif len(set(args)) == 1:
            items = f"{len(args)} {_expected(args[0], plural=True)}"
        else:
            items = f"{len(args)} values"
        return f"{'lists' if plural else 'a list'} of {items}"
    names = {bool: ("true or false", "booleans"), int: ("an integer", "integers"), float: ("a number", "numbers"),
             str: ("a string", "strings"), type(None): ("null", "nulls")}
    return names.get(hint, (str(hint), str(hint)))[plural]


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a dataclass field's annotation (bool is not an int; NaN is not a number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return all(_matches(item, args[0]) for item in value)
        return len(value) == len(args) and all(_matches(item, arg) for item, arg in zip(value, args))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return _is_number(value)
    if hint is type(None):
        return value is None
    return isinstance(value, hint)


def _check_dataclass_section(card_path: Path, section: str, values: dict, cls: type,
                             extra: dict[str, Any] | None = None) -> None:
    """Every field of a card section that mirrors a dataclass (``explain`` = ExplainParams, ``spec`` = the kind's
    spec): a known name, the field's JSON type, then the dataclass's own range checks on the whole section."""
    hints = typing.get_type_hints(cls)
    extra = extra or {}
    for key, value in values.items():
        where = f"{section}.{key}"
        if key in extra:
            if value != extra[key]:
                raise ModelFileError(f"{card_path}: model card field '{where}' must be {_json_text(extra[key])}, "
                                     f"found {_json_text(value)}")
            continue
        if key not in hints:
            close = difflib.get_close_matches(key, list(hints), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(sorted(hints))})"
            raise ModelFileError(f"{card_path}: model card field '{where}' is unknown{hint}")
        if not _matches(value, hints[key]):
            raise ModelFileError(f"{card_path}: model card field '{where}' must be {_expected(hints[key])}, "
                                 f"found {_json_text(value)}")
    try:  # the dataclass's range checks, on the card's values over the defaults
        cls(**{key: value for key, value in values.items() if key not in extra})
    except (IExplainError, ValueError, TypeError) as error:
        raise ModelFileError(f"{card_path}: model card section '{section}' is invalid: {error}") from error


def _spec_schema(kind: str) -> tuple[type, dict[str, Any]] | None:
    """The dataclass a ``kind`` card's ``spec`` mirrors and the constant fields it carries beside it (None: a kind
    whose spec this module does not know field by field; its loader checks it)."""
    if kind == "classifier":
        from .classifier.spec import ClassifierSpec
        return ClassifierSpec, {}
    if kind == "segmenter":
        from .segmenter.spec import SegmenterSpec
        return SegmenterSpec, {"axes": "zyx"}
    return None


def validate_card(card: dict[str, Any], card_path: Path) -> None:
    """Check every known section of a model card, refusing the first wrong field in one line that names it.

    A malformed section must never be skipped in favour of defaults: a classifier card whose ``explain`` section is
    unreadable would otherwise run with the paper's settings instead of the ones tuned for that classifier.
    """
    def refuse(field: str, problem: str) -> NoReturn:
        raise ModelFileError(f"{card_path}: model card field '{field}' {problem}, found {_json_text(card[field])}")

    version = card.get("format_version", CARD_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        refuse("format_version", "must be an integer >= 1")
    if version > CARD_VERSION:
        refuse("format_version", f"is newer than this IExplain reads ({CARD_VERSION}); update IExplain")
    for field in _TEXT_FIELDS:
        if field in card and not isinstance(card[field], str):
            refuse(field, "must be a string")
    for field in _OBJECT_FIELDS:
        if field in card and not isinstance(card[field], dict):
            refuse(field, "must be a JSON object")
    if "architecture" in card and not isinstance(card["architecture"], (str, dict)):
        refuse("architecture", "must be a string or a JSON object")
    if "sha256" in card and not (isinstance(card["sha256"], str) and re.fullmatch(r"[0-9a-f]{64}", card["sha256"])):
        refuse("sha256", "must be 64 lower-case hexadecimal digits")
    for field in ("size_bytes", "parameters"):
        value = card.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            refuse(field, "must be an integer >= 0")
    if "input_size" in card and not (isinstance(card["input_size"], int) and not isinstance(card["input_size"], bool)
                                     and card["input_size"] >= 1):
        refuse("input_size", "must be an integer >= 1")
    if "threshold" in card and not (_is_number(card["threshold"]) and 0 <= card["threshold"] <= 1):
        refuse("threshold", "must be a number in [0, 1]")
    if "hu_windows" in card and not (
            isinstance(card["hu_windows"], list) and card["hu_windows"]
            and all(isinstance(w, list) and len(w) == 2 and all(map(_is_number, w)) and w[1] > 0
                    for w in card["hu_windows"])):
        refuse("hu_windows", "must be a list of [centre, width > 0] HU pairs")
    schema = _spec_schema(card["kind"])
    if "spec" in card and schema is not None:
        _check_dataclass_section(card_path, "spec", card["spec"], *schema)
        # The classifier's top-level copies are what people read; the spec is what runs: they must agree.
        for field in ("input_size", "threshold", "hu_windows"):
            if card["kind"] == "classifier" and field in card and field in card["spec"] \
                    and card[field] != card["spec"][field]:
                refuse(field, f"differs from 'spec.{field}' ({_json_text(card['spec'][field])})")
    if "explain" in card:
        from .explain.params import ExplainParams
        _check_dataclass_section(card_path, "explain", card["explain"], ExplainParams)


def load_model_file(path: str | Path, expected_kind: str | None = None,
                    verify_checksum: bool = True) -> tuple[dict, dict[str, Any]]:
    """Load ``(state_dict, card)``; refuses pickles, truncated files, wrong kinds and checksum mismatches."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path, _ = model_paths(path)
    if not weights_path.exists():
        raise ModelFileError(f"model file {weights_path} not found")
    _refuse_non_safetensors(weights_path)
    card = read_card(path, expected_kind)
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
