"""Argument helpers every command shares, so flags are spelled and behave the same everywhere: output, progress
and device flags, model-file resolution, and the iExplain parameter flags of ``detect``, ``pseudo-label``,
``quality``, ``tune-threshold`` and ``ablation``.

iExplain parameter precedence: paper defaults, the classifier card's ``explain`` section, the attribution preset
(``--preset``, else chosen by the device), ``--params FILE.json``, then any per-parameter flag on top.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..errors import InputError
from ..progress import Progress


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", choices=("text", "json", "quiet"), default="text",
                        help="progress on stderr as text (default), as JSON lines on stdout, or none")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")


def add_resume(parser: argparse.ArgumentParser) -> None:
    """The resume rule of every trainer (:mod:`IExplainLib.training.resume`): the same command started again beside
    its checkpoint continues it; a checkpoint of other settings is refused unless ``--restart``."""
    parser.add_argument("--restart", action="store_true",
                        help="discard an existing checkpoint and start over (without it the same command started "
                             "again resumes, and a checkpoint of other settings is refused)")
    # resuming is automatic; the flag is still taken so that commands recorded in older model cards run
    parser.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)


# how a run is written down in its model card: not the flags of where it runs or of how it reports
_UNRECORDED = ("func", "command", "debug", "progress", "resume")


def command_line(args: argparse.Namespace, positional: tuple[str, ...] = (),
                 flags: dict[str, str] | None = None) -> str:
    """The command that ran, every option spelled out (defaults included), so that a model card says exactly what
    made the model and the line runs again as it is. ``positional``: the arguments given without a flag, in order;
    ``flags``: options whose flag is not ``--`` + their name with dashes. A tuple value is one comma-separated
    option (``--filters 8,16,32``), a list one option per item (``--window`` repeated)."""
    flags = flags or {}
    words = ["iexplain", args.command]
    for name in positional:
        value = getattr(args, name)
        words += [str(v) for v in value] if isinstance(value, list) else [str(value)]
    for key, value in sorted(vars(args).items()):
        if key in _UNRECORDED or key in positional or value is None or value is False:
            continue
        flag = flags.get(key, "--" + key.replace("_", "-"))
        if value is True:
            words.append(flag)
        elif isinstance(value, list):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)]
    return " ".join(shlex.quote(word) for word in words)


def progress_from(args) -> Progress:
    return Progress(getattr(args, "progress", "text"))


def existing_path(path: str, what: str = "input") -> Path:
    """The path, or a one-line error naming it when it does not exist."""
    resolved = Path(path)
    if not resolved.exists():
        raise InputError(f"{what} {path} not found")
    return resolved


def model_path(given: str | None, role: str, bundled: str | None = None) -> Path:
    """The given model's weights (or the bundled ``bundled`` one); a one-line error when the weights or the card
    are missing. ``role``: classifier or segmenter, as the flag is named."""
    from ..modelfile import bundled_model, model_paths

    if given:
        weights, card = model_paths(Path(given))
    elif bundled is not None:
        weights, card = model_paths(bundled_model(bundled))
    else:
        raise InputError(f"give the {role} model (--{role})")
    hint = "" if given else f" (the bundled {bundled} is missing; pass --{role})"
    if not weights.exists():
        raise InputError(f"{role} {weights} not found{hint}")
    if not card.exists():
        raise InputError(f"{role} card {card} not found (a model is a .safetensors file plus its .json card)")
    return weights


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no", "true", "false", "1", "0", "on", "off"):
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return text.lower() in ("yes", "true", "1", "on")


# flag -> (ExplainParams field, type, help)
_PARAM_FLAGS = {
    "--ig-steps": ("n_steps", int, "Integrated Gradients steps (default 20)"),
    "--quadrature": ("quadrature", str, "IG quadrature: gausslegendre (default), riemann_trapezoid, riemann_left, "
                                        "riemann_right, riemann_middle"),
    "--references": ("references", lambda t: [r.strip() for r in t.split(",") if r.strip()],
                     "comma-separated IG references: zero, one, mean, blur, uniform_noise, gaussian_noise "
                     "(default zero,blur,mean,uniform_noise,one)"),
    "--smoothgrad-samples": ("smoothgrad_samples", int, "SmoothGrad noise samples (1 = plain IG; default 3)"),
    "--smoothgrad-stdev": ("smoothgrad_stdev", float, "SmoothGrad noise stdev in windowed input units (default 0.05)"),
    "--high-threshold": ("high_threshold", float, "hysteresis high threshold h on the normalised heat map"),
    "--low-ratio": ("low_ratio", float, "low threshold as a fraction of h (default 0.5)"),
    "--max-iterations": ("max_iterations", int, "Algorithm 1 iteration limit (default 10)"),
    "--min-new-voxels": ("min_new_voxels", int, "stop when an iteration finds fewer new voxels (at 512 px; 50)"),
    "--classifier-threshold": ("classifier_threshold", float, "PE probability threshold (default: the model card's)"),
    "--min-cluster-voxels": ("min_cluster_voxels", int, "filter: drop clusters smaller than this (at 512 px; 100)"),
    "--max-center-distance": ("max_center_distance_px", float, "filter: drop clusters farther from the image "
                                                               "centre (px at 512; 160)"),
    "--location-filter": ("location_filter", str, "filter: centre (the paper's distance from the image centre) or "
                                                  "chest (inside the lungs and mediastinum found from HU)"),
    "--defect-check": ("defect_check", _yes_no,
                       "filter: yes = keep only clot-density cores inside opacified lumen (beyond the paper)"),
    "--defect-search": ("defect_search_mm", float, "defect check: look for the clot cores up to this many mm around "
                                                   "each cluster and keep those touching it (0 = inside it only)"),
    "--batch-size": ("batch_size", int, "rows per attribution forward/backward pass (memory vs speed)"),
    "--seed": ("seed", int, "seed of random references and SmoothGrad noise"),
}


def _dest(flag: str) -> str:
    return "explain_" + flag.lstrip("-").replace("-", "_")


def add_explain_flags(parser, only: tuple[str, ...] | None = None, presets: bool = True) -> None:
    """The iExplain flags (all of them, or the ``only`` ones, spelled as in ``_PARAM_FLAGS``), ``--params`` and,
    with ``presets``, ``--preset`` and ``--no-filter``."""
    unknown = set(only or ()) - set(_PARAM_FLAGS)
    if unknown:
        raise ValueError(f"not iExplain flags: {sorted(unknown)}")
    group = parser.add_argument_group("iExplain parameters (paper defaults, then the classifier card's 'explain' "
                                      "section, then --params, then these flags; see docs/explain.md)")
    if presets:
        group.add_argument("--preset", dest="explain_preset", choices=("paper", "fast"), default=None,
                           help="attribution settings: paper (20 IG steps x 5 references x 3 SmoothGrad samples) or "
                                "fast (8 x 2 x 2, the demo's, about 9x less work); default: paper on CUDA, fast on "
                                "CPU. --params and the flags below override it")
    group.add_argument("--params", dest="explain_params_file", metavar="JSON",
                       help="ExplainParams JSON file; the flags below override it")
    for flag, (_, kind, text) in _PARAM_FLAGS.items():
        if only is not None and flag not in only:
            continue
        metavar = {int: "N", float: "X", str: "NAME", _yes_no: "yes|no"}.get(kind, "A,B,...")
        group.add_argument(flag, dest=_dest(flag), type=kind, default=None, metavar=metavar, help=text)
    if presets:
        group.add_argument("--no-filter", dest="explain_no_filter", action="store_true",
                           help="keep every cluster (no size / distance filter)")


def explain_overrides(args) -> dict:
    """The iExplain parameters the command line set (flags given; ``--no-filter``), by ExplainParams field."""
    changes = {field: getattr(args, _dest(flag), None) for flag, (field, _, _) in _PARAM_FLAGS.items()}
    if getattr(args, "explain_no_filter", False):
        changes["filter"] = False
    return {field: value for field, value in changes.items() if value is not None}


def explain_params_file(args) -> str | None:
    return getattr(args, "explain_params_file", None)


def explain_params_from(args, classifier=None, preset: str | None = None):
    """ExplainParams: defaults, the classifier card's ``explain`` section, ``preset``, ``--params``, then flags."""
    from ..explain.params import params_for_model
    from ..modelfile import read_card

    card = read_card(classifier) if classifier is not None else None
    return params_for_model(card, explain_params_file(args), explain_overrides(args), preset)


def preset_and_params(args, classifier, device):
    """(PresetChoice, ExplainParams) of an iExplain run: ``--preset``, or the one ``device`` calls for."""
    from ..devices import resolve_device
    from ..explain.presets import choose_preset

    choice = choose_preset(getattr(args, "explain_preset", None),
                           resolve_device(device) if isinstance(device, str) else device)
    params = explain_params_from(args, classifier, choice.name)
    return choice.note_overrides(params), params
