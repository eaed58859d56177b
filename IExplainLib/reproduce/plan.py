"""The dry plan of a reproduce run (``iexplain reproduce OUT --dry-plan``): the sizes it trains, whose weights come
back from a lent GPU machine, and the seconds each phase is given, without running anything or touching OUT.

Seconds per phase are each phase's share of ``--minutes`` (as :class:`~.budget.PhaseBudget` allots them when every
phase uses exactly its share; time a phase leaves passes on to the later ones). Weights: each network is built on
the CPU and its parameters counted (float32 = 4 bytes each, bf16 = 2), then admitted into the parts as
``benchmarks/device/run.sh`` packs them (:func:`IExplainLib.model_parts.admit_models`: at most 4 parts of 16 MiB
beside run.log, reproduce.md, reports.tar.gz and the manifest, 64 MiB in all less what those take).
"""

from __future__ import annotations

from ..model_parts import DEFAULT_PRIORITY, MIB, admit_models
from .scale import PHASES, Scale

HEADER_BYTES = 64 * 1024       # a safetensors header and its card, rounded up
CARD_BYTES = 16 * 1024         # each model's JSON card
REPORTS_BYTES = 1 * MIB        # run.log (512 KiB kept for it), reproduce.md, reports.tar.gz, the manifest
PARTS = 4


def _parameters(module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def network_bytes(scale: Scale) -> dict[str, int]:
    """float32 bytes of each model the run writes (classifier, the three segmenters, the reducer)."""
    from ..candidates.reducer import build_reducer
    from ..classifier import ClassifierSpec, build_classifier
    from ..segmenter.spec import SegmenterSpec, build_network

    classifier = _parameters(build_classifier(ClassifierSpec(backbone=scale.backbone, input_size=scale.input_size)))
    segmenter = _parameters(build_network(SegmenterSpec(filters=scale.filters, patch_size=scale.patch_size,
                                                        inplane_spacing_mm=scale.inplane_spacing_mm)))
    reducer = _parameters(build_reducer(scale.reducer_architecture))
    sizes = {"classifier": classifier, "reducer": reducer, "wsl-segmenter": segmenter,
             "finetuned-from-wsl": segmenter, "random-init": segmenter}
    return {stem: 4 * count + HEADER_BYTES for stem, count in sizes.items()}


def dry_plan(scale: Scale, minutes: float, device: str) -> dict:
    """The plan as a JSON-ready dict (see the module's docstring)."""
    total = sum(scale.shares[name] for name in PHASES)
    seconds = {name: round(60.0 * minutes * scale.shares[name] / total, 1) for name in PHASES}
    original = network_bytes(scale)
    smallest = {stem: (size - HEADER_BYTES) // 2 + HEADER_BYTES if size > MIB else size
                for stem, size in original.items()}
    capacity = min(64 * MIB - REPORTS_BYTES, PARTS * 16 * MIB)
    forms = admit_models(list(DEFAULT_PRIORITY), original, smallest, [CARD_BYTES] * len(original), capacity)
    models = {stem: {"float32_mb": round(original[stem] / 1e6, 1), "bf16_mb": round(smallest[stem] / 1e6, 1),
                     "comes_back": forms.get(stem, "no (its card comes back)")} for stem in original}
    return {"device": device, "minutes": minutes, "scale": scale.name,
            "classifier": f"{scale.backbone} at {scale.input_size} px, batch {scale.batch_size}",
            "segmenter": f"DynUNet {'-'.join(map(str, scale.filters))}, patch {'x'.join(map(str, scale.patch_size))}, "
                         f"batch {scale.segmenter_batch}",
            "preset": scale.preset, "quality_sets": "quick" if scale.quality_quick else "full",
            "phases_s": seconds, "phases_total_s": round(sum(seconds.values()), 1),
            "budget_s": round(60.0 * minutes, 1), "models": models}


def format_plan(plan: dict) -> str:
    lines = [f"dry plan: iexplain reproduce --scale {plan['scale']} --device {plan['device']} "
             f"--minutes {plan['minutes']:g}",
             f"  classifier: {plan['classifier']}", f"  segmenter:  {plan['segmenter']}",
             f"  attribution preset {plan['preset']}; {plan['quality_sets']} quality sets", "",
             "  phase          seconds"]
    lines += [f"  {name:<14} {value:7.1f}" for name, value in plan["phases_s"].items()]
    lines += [f"  {'total':<14} {plan['phases_total_s']:7.1f} of {plan['budget_s']:.1f} s", "",
              "  model               float32 MB   bf16 MB   weights back"]
    lines += [f"  {stem:<19} {entry['float32_mb']:10.1f} {entry['bf16_mb']:9.1f}   {entry['comes_back']}"
              for stem, entry in plan["models"].items()]
    return "\n".join(lines)
