"""Model files that travel: bf16 copies and files split into verified parts.

A lent GPU machine returns at most 8 result files of at most 16 MiB each (64 MiB in all). Paper-size weights do not
fit one file (EfficientNetV2-S 80.7 MB, DynUNet 32-320 123 MB in float32), so:

- :func:`to_bf16` writes a bfloat16 copy of a model file (floating-point tensors only; integer buffers as they are),
  half the size, with a card saying ``"weights_dtype": "bfloat16"`` and the source file's sha256. Loading needs
  nothing special: ``load_state_dict`` copies each tensor into the module's own (float32) parameter, casting it.
- :func:`split_files` packs files into one tar stream cut into numbered parts (``NAME.part01``, ...) of at most
  ``part_mib`` MiB, plus a manifest ``NAME.parts.json`` with every part's and every member's sha256 and size.
- :func:`join_parts` (``iexplain join-parts MANIFEST -o DIR``) checks every part, joins and unpacks them, and
  checks every member, refusing a missing or corrupt part in one line and never overwriting unless asked.
- :func:`pack_models` chooses which models of a run come back within a byte and file budget (bf16 where needed).
"""

from __future__ import annotations

import hashlib
import json
import math
import tarfile
from pathlib import Path
from collections.abc import Sequence
from typing import Any, BinaryIO

from .errors import InputError
from .jsonfile import read_json
from .modelfile import load_model_file, model_paths, save_model, sha256_of
from .outputs import atomic_output, check_can_write

MANIFEST_FORMAT = "iexplain-parts"
MANIFEST_VERSION = 1
MIB = 1 << 20
# card fields save_model writes itself: a converted model gets its own
_OWN_CARD_FIELDS = ("format", "format_version", "created", "weights_file", "sha256", "size_bytes")


class PartsError(InputError):
    """A missing, corrupt or unusable part, manifest or member."""


def to_bf16(model_path: str | Path, out_path: str | Path, overwrite: bool = False) -> Path:
    """Write a bfloat16 copy of a model file (weights + card); returns the new weights path.

    Floating-point tensors become bfloat16, integer buffers (e.g. BatchNorm's ``num_batches_tracked``) stay as they
    are. The card keeps every section of the source's and adds ``weights_dtype: "bfloat16"`` and ``converted_from``
    (the source weights file's name, sha256, size and dtypes).
    """
    import torch

    source, _ = model_paths(model_path)
    state, card = load_model_file(source)
    dtypes = sorted({str(tensor.dtype).removeprefix("torch.") for tensor in state.values()})
    converted = {name: tensor.to(torch.bfloat16) if tensor.is_floating_point() else tensor
                 for name, tensor in state.items()}
    new_card = {key: value for key, value in card.items() if key not in _OWN_CARD_FIELDS}
    new_card["weights_dtype"] = "bfloat16"
    new_card["converted_from"] = {"weights_file": source.name, "sha256": sha256_of(source),
                                  "size_bytes": source.stat().st_size, "dtypes": dtypes,
                                  "created": card.get("created")}
    return save_model(out_path, converted, new_card, overwrite=overwrite)


def _tar_size(sizes: list[int]) -> int:
    """Bytes of an uncompressed tar (ustar/PAX with short names) of regular files of these sizes, as tarfile writes
    it: one 512-byte header per member, data padded to 512, two zero blocks, padded to the 10240-byte record."""
    raw = sum(512 + math.ceil(size / 512) * 512 for size in sizes) + 1024
    return math.ceil(raw / tarfile.RECORDSIZE) * tarfile.RECORDSIZE


class _PartWriter:
    """A write-only file object that cuts what it is given into parts of ``part_bytes``, hashing each."""

    def __init__(self, out_dir: Path, name: str, part_bytes: int):
        self.out_dir, self.name, self.part_bytes = out_dir, name, part_bytes
        self.parts: list[dict[str, Any]] = []
        self.handle: BinaryIO | None = None
        self.digest = hashlib.sha256()
        self.written = 0

    def _next(self) -> None:
        self._close_part()
        path = self.out_dir / f"{self.name}.part{len(self.parts) + 1:02d}"
        self.parts.append({"name": path.name})
        self.handle = open(path, "wb")
        self.digest = hashlib.sha256()
        self.written = 0

    def _close_part(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.parts[-1].update(size=self.written, sha256=self.digest.hexdigest())
            self.handle = None

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            if self.handle is None or self.written >= self.part_bytes:
                self._next()
            assert self.handle is not None
            chunk = view[:self.part_bytes - self.written]
            self.handle.write(chunk)
            self.digest.update(chunk)
            self.written += len(chunk)
            view = view[len(chunk):]
        return len(data)

    def close(self) -> list[dict[str, Any]]:
        self._close_part()
        return self.parts


def split_files(paths: Sequence[str | Path], out_dir: str | Path, part_mib: float = 16, max_parts: int = 8,
                name: str = "models", max_bytes: int | None = None, overwrite: bool = False) -> Path:
    """Pack files into one tar stream cut into parts of at most ``part_mib`` MiB; returns the manifest's path.

    Members keep only their file names (the caller picks them from one folder's worth; two of the same name are
    refused). Refused before anything is written: more than ``max_parts`` parts, or more than ``max_bytes`` bytes of
    parts in all (the caller says how many result files and bytes it can spend on the parts).
    """
    files = [Path(path) for path in paths]
    if not files:
        raise PartsError("no files to split")
    names = [path.name for path in files]
    for path in files:
        if not path.is_file():
            raise PartsError(f"{path} is not a file")
        if names.count(path.name) > 1:
            raise PartsError(f"two files are named {path.name}: parts keep only file names")
        if len(path.name.encode()) > 99:
            raise PartsError(f"{path.name}: file names of parts must be under 100 bytes")
    part_bytes = int(part_mib * MIB)
    if part_bytes < 1024:
        raise PartsError(f"parts of {part_mib} MiB are too small (at least 1 KiB)")
    sizes = [path.stat().st_size for path in files]
    total = _tar_size(sizes)
    needed = math.ceil(total / part_bytes)
    if needed > max_parts:
        raise PartsError(f"{len(files)} files ({sum(sizes) / MIB:.1f} MiB) need {needed} parts of {part_mib:g} MiB, "
                         f"more than the {max_parts} allowed")
    if max_bytes is not None and total > max_bytes:
        raise PartsError(f"{len(files)} files need {total / MIB:.1f} MiB of parts, more than the "
                         f"{max_bytes / MIB:.1f} MiB allowed")
    out = Path(out_dir)
    manifest_path = out / f"{name}.parts.json"
    for index in range(1, needed + 1):
        check_can_write(out / f"{name}.part{index:02d}", overwrite)
    check_can_write(manifest_path, overwrite)
    members = [{"name": path.name, "size": size, "sha256": sha256_of(path)} for path, size in zip(files, sizes)]
    writer = _PartWriter(out, name, part_bytes)
    try:
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as archive:  # type: ignore[call-overload]
            for path in files:
                info = tarfile.TarInfo(path.name)
                info.size, info.mode, info.mtime = path.stat().st_size, 0o644, int(path.stat().st_mtime)
                with open(path, "rb") as handle:
                    archive.addfile(info, handle)
    finally:
        parts = writer.close()
    if len(parts) > max_parts:  # the size estimate was wrong: never leave more parts than allowed
        for part in parts:
            (out / part["name"]).unlink(missing_ok=True)
        raise PartsError(f"the archive came out as {len(parts)} parts, more than the {max_parts} allowed")
    manifest = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "archive": "tar",
                "part_bytes": part_bytes, "total_bytes": sum(part["size"] for part in parts),
                "parts": parts, "members": members}
    with atomic_output(manifest_path, overwrite) as temporary:
        temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest_path


class _JoinedReader:
    """Read-only stream over the parts in order (what ``tarfile`` in stream mode needs)."""

    def __init__(self, paths: list[Path]):
        self.paths = list(paths)
        self.handle: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        chunks = []
        while size != 0:
            if self.handle is None:
                if not self.paths:
                    break
                self.handle = open(self.paths.pop(0), "rb")
            data = self.handle.read(size if size > 0 else -1)
            if not data:
                self.handle.close()
                self.handle = None
                continue
            chunks.append(data)
            if size > 0:
                size -= len(data)
        return b"".join(chunks)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def read_manifest(manifest: str | Path) -> dict[str, Any]:
    """A parts manifest, its shape checked."""
    path = Path(manifest)
    if not path.is_file():
        raise PartsError(f"manifest {path} not found")
    data = read_json(path, "parts manifest", PartsError)
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise PartsError(f"{path} is not an IExplain parts manifest (format != {MANIFEST_FORMAT!r})")
    for key in ("parts", "members"):
        entries = data.get(key)
        if not isinstance(entries, list) or not entries or not all(
                isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("sha256"), str)
                and isinstance(e.get("size"), int) for e in entries):
            raise PartsError(f"{path}: '{key}' must be a non-empty list of {{name, size, sha256}}")
    for entry in data["parts"] + data["members"]:
        if Path(entry["name"]).name != entry["name"] or entry["name"] in ("", ".", ".."):
            raise PartsError(f"{path}: '{entry['name']}' is not a plain file name")
    return data


def join_parts(manifest: str | Path, out_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Check every part named in a manifest (beside it), join them, unpack the members into ``out_dir`` and check
    each against the manifest; returns the members' paths. Existing files are refused unless ``overwrite``."""
    manifest_path = Path(manifest)
    data = read_manifest(manifest_path)
    parts = []
    for index, part in enumerate(data["parts"], start=1):
        path = manifest_path.parent / part["name"]
        where = f"part {index} of {len(data['parts'])} ({path})"
        if not path.is_file():
            raise PartsError(f"{where} is missing")
        if path.stat().st_size != part["size"] or sha256_of(path) != part["sha256"]:
            raise PartsError(f"{where} is corrupt: its size or sha256 differs from the manifest")
        parts.append(path)
    out = Path(out_dir)
    expected = {member["name"]: member for member in data["members"]}
    targets = [out / name for name in expected]
    for target in targets:
        check_can_write(target, overwrite)
    written: list[Path] = []
    reader = _JoinedReader(parts)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as archive:  # type: ignore[call-overload]
            for info in archive:
                member = expected.get(info.name)
                if member is None or not info.isfile():
                    raise PartsError(f"{manifest_path}: the archive holds '{info.name}', which the manifest does not "
                                     "list as a file")
                source = archive.extractfile(info)
                assert source is not None
                target = out / info.name
                digest = hashlib.sha256()
                with atomic_output(target, overwrite) as temporary, open(temporary, "wb") as handle:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
                        handle.write(block)
                    if digest.hexdigest() != member["sha256"] or handle.tell() != member["size"]:
                        raise PartsError(f"{info.name} unpacked from {manifest_path.name} differs from the "
                                         "manifest's sha256 or size")
                written.append(target)
    except tarfile.TarError as error:
        raise PartsError(f"{manifest_path}: the joined parts are not a readable archive: {error}") from error
    finally:
        reader.close()
    missing = sorted(set(expected) - {path.name for path in written})
    if missing:
        raise PartsError(f"{manifest_path}: the archive lacks {', '.join(missing)}")
    return written


# the order in which a run's models get the bytes that come back (the classifier is the one every method needs)
DEFAULT_PRIORITY = ("classifier", "reducer", "wsl-segmenter", "finetuned-from-wsl", "random-init")


def pack_models(models_dir: str | Path, out_dir: str | Path, max_bytes: int, max_parts: int,
                part_mib: float = 16, priority: tuple[str, ...] = DEFAULT_PRIORITY, name: str = "models",
                work_dir: str | Path | None = None) -> dict[str, Any]:
    """Split the models of ``models_dir`` (every card, and as many weights as fit) into parts under ``out_dir``.

    Models are taken in ``priority`` order (then any others by name). First each model is admitted in its smallest
    form (a bfloat16 copy, made in ``work_dir``, when its float32 file exceeds 1 MiB) while the parts still fit
    ``max_bytes`` and ``max_parts``; then admitted models go back to their own float32 file, in the same order,
    where that still fits. Returns ``{"manifest", "shipped": {model: "original"|"bfloat16"}, "left": [...]}``.
    """
    models = Path(models_dir)
    work = Path(work_dir) if work_dir is not None else models.parent / f".{name}-bf16"
    stems = sorted(path.stem for path in models.glob("*.safetensors") if path.with_suffix(".json").is_file())
    stems.sort(key=lambda stem: (priority.index(stem) if stem in priority else len(priority), stem))
    cards = sorted(models.glob("*.json"))
    capacity = min(max_bytes, max_parts * int(part_mib * MIB))
    originals = {stem: models / f"{stem}.safetensors" for stem in stems}
    smallest = {stem: to_bf16(path, work / f"{stem}.safetensors", overwrite=True) if path.stat().st_size > MIB
                else path for stem, path in originals.items()}
    forms = admit_models(stems, {stem: path.stat().st_size for stem, path in originals.items()},
                         {stem: path.stat().st_size for stem, path in smallest.items()},
                         [card.stat().st_size for card in cards], capacity)
    chosen = {stem: originals[stem] if form == "original" else smallest[stem] for stem, form in forms.items()}
    files: list[Path] = [card for card in cards if card.stem not in chosen]
    for stem, weights in chosen.items():
        files += [weights, weights.with_suffix(".json")]
    manifest = split_files(files, out_dir, part_mib=part_mib, max_parts=max_parts, name=name, max_bytes=max_bytes,
                           overwrite=True)
    return {"manifest": str(manifest),
            "shipped": {stem: "original" if weights.parent == models else "bfloat16" for stem, weights in chosen.items()},
            "left": [stem for stem in stems if stem not in chosen]}


def admit_models(stems: Sequence[str], original_bytes: dict[str, int], smallest_bytes: dict[str, int],
                 card_bytes: Sequence[int], capacity: int) -> dict[str, str]:
    """Which models' weights fit ``capacity`` bytes of parts beside every card, in ``stems`` order: each first in its
    smallest form while the tar still fits, then back to the original where that still fits.
    Returns ``{stem: "original"|"bfloat16"}`` of the admitted ones (the smallest form of a model at most 1 MiB is
    its original)."""

    def fits(chosen: dict[str, int]) -> bool:
        return _tar_size([*card_bytes, *chosen.values()]) <= capacity

    chosen: dict[str, int] = {}
    forms: dict[str, str] = {}
    for stem in stems:
        if fits({**chosen, stem: smallest_bytes[stem]}):
            chosen[stem] = smallest_bytes[stem]
            forms[stem] = "original" if smallest_bytes[stem] == original_bytes[stem] else "bfloat16"
    for stem in list(chosen):
        if forms[stem] != "original" and fits({**chosen, stem: original_bytes[stem]}):
            chosen[stem], forms[stem] = original_bytes[stem], "original"
    return forms
