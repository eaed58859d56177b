"""How big a reproduce run is: ``paper`` (a GPU node: 512-px phantoms, a timm EfficientNetV2 at 384 px, the paper's
attribution preset and segmenter) or ``toy`` (the CPU dry run the test-suite runs: tiny models, a couple of small
phantoms, about a minute). Every figure here is a default the command line can change; the phase shares say how the
run's minutes are split (see :mod:`.budget`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..errors import InputError

PHASES = ("data", "bench", "classifier", "tune", "reducer", "pseudo-label", "segmenter", "finetune", "quality")


@dataclass(frozen=True)
class Scale:
    name: str
    # phantoms (seeds: training from 0, finetuning from 7000, tuning h from 8000; quality's sets are >= 9000)
    train_studies: int
    finetune_studies: int
    tune_studies: int
    slices: int
    size: int
    # Stage 1
    backbone: str
    input_size: int
    batch_size: int
    epochs: int
    lr: float
    warmup: int
    # Stage 2: the attribution preset of tuning h, pseudo-labelling and the quality sets
    preset: str
    # Stage 3
    filters: tuple[int, ...]
    patch_size: tuple[int, int, int]            # (z, y, x)
    inplane_spacing_mm: float | None
    segmenter_batch: int
    segmenter_iterations: int
    segmenter_lr: float
    segmenter_warmup: int
    finetune_iterations: int
    finetune_lr: float
    finetune_warmup: int
    # the candidate detector's false-positive reducer (``train_reducer``: slice labels of the training studies only;
    # the score threshold chosen on the tuning studies)
    reducer_architecture: str
    reducer_supervision: str
    reducer_bag_min_pe_share: float
    reducer_bag_leak: float
    reducer_bag_sharpness: float | None          # None: a bag's best candidate (the maximum)
    reducer_epochs: int
    # scoring and speed figures
    quality_quick: bool
    bench: str                                   # "paper" (CUDA: the paper's settings) or "quick"
    bench_slices: int
    bench_size: int
    shares: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


# The bench is deadline-bound and secondary to the models; the quality phase scores the run's models and then the
# bundled ones on the same sets (the ship / keep decision), so it gets the bench's former time.
PAPER_SHARES = {"data": 0.07, "bench": 0.06, "classifier": 0.21, "tune": 0.05, "reducer": 0.04,
                "pseudo-label": 0.12, "segmenter": 0.19, "finetune": 0.06, "quality": 0.20}

PAPER = Scale(
    name="paper", train_studies=64, finetune_studies=8, tune_studies=8, slices=96, size=512,
    backbone="tf_efficientnetv2_s", input_size=384, batch_size=32, epochs=30, lr=1e-3, warmup=100,
    preset="paper",
    # DynUNet 32-160 (11.4 M parameters, 22.8 MB in bf16), not the paper's 32-320 (123 MB, 62 MB in bf16): beside
    # the bf16 EfficientNetV2-S (40 MB) it is the widest whose weights come back from a lent GPU machine (8 files of
    # at most 16 MiB, 64 MiB in all; docs/reproduce.md, "Shipping the models")
    filters=(32, 64, 128, 160, 160, 160), patch_size=(64, 128, 128), inplane_spacing_mm=None, segmenter_batch=8,
    segmenter_iterations=50000, segmenter_lr=1e-4, segmenter_warmup=200,
    finetune_iterations=10000, finetune_lr=1e-5, finetune_warmup=200,
    reducer_architecture="rings-mlp", reducer_supervision="mil", reducer_bag_min_pe_share=1.0, reducer_bag_leak=0.5,
    reducer_bag_sharpness=0.5, reducer_epochs=150,
    quality_quick=False, bench="paper", bench_slices=300, bench_size=512, shares=PAPER_SHARES)

TOY = Scale(
    name="toy", train_studies=2, finetune_studies=1, tune_studies=1, slices=12, size=64,
    backbone="iexplain_efficientnetv2_tiny", input_size=32, batch_size=4, epochs=2, lr=1e-3, warmup=2,
    preset="fast",
    filters=(4, 8, 16), patch_size=(8, 32, 32), inplane_spacing_mm=None, segmenter_batch=2,
    segmenter_iterations=3, segmenter_lr=1e-3, segmenter_warmup=1,
    finetune_iterations=2, finetune_lr=1e-4, finetune_warmup=1,
    reducer_architecture="rings-mlp", reducer_supervision="mil", reducer_bag_min_pe_share=1.0, reducer_bag_leak=0.5,
    reducer_bag_sharpness=0.5, reducer_epochs=2,
    quality_quick=True, bench="quick", bench_slices=16, bench_size=64,
    shares={"data": 0.08, "bench": 0.1, "classifier": 0.17, "tune": 0.05, "reducer": 0.04, "pseudo-label": 0.12,
            "segmenter": 0.12, "finetune": 0.08, "quality": 0.24})

SCALES = {"paper": PAPER, "toy": TOY}


def explain_batch_size(backbone: str, input_size: int) -> int:
    """Rows per attribution forward/backward that keep a large network's activations well inside a GPU's memory
    (the library's default, 64, suits the small classifiers; EfficientNetV2-L at 512 px needs about 2.5 GB a row)."""
    rows = 64 if input_size <= 256 else 32 if input_size <= 384 else 16
    return max(4, rows // 4) if backbone.endswith(("_l", "_xl")) else rows


def scale_for(name: str, **changes) -> Scale:
    """The named scale with the given fields changed (None values keep the default), checked."""
    if name not in SCALES:
        raise InputError(f"unknown scale {name!r} (use {' or '.join(SCALES)})")
    scale = replace(SCALES[name], **{key: value for key, value in changes.items() if value is not None})
    for key in ("train_studies", "slices", "size", "input_size", "batch_size", "epochs", "segmenter_batch",
                "segmenter_iterations", "finetune_iterations", "reducer_epochs"):
        if getattr(scale, key) < 1:
            raise InputError(f"{key.replace('_', ' ')} must be at least 1, got {getattr(scale, key)}")
    if scale.train_studies < 2:
        raise InputError("at least 2 training studies are needed (one is held out to validate the classifier)")
    if scale.finetune_studies < 0 or scale.tune_studies < 1:
        raise InputError("finetuning studies must be >= 0 and tuning studies >= 1")
    if scale.slices < 7:
        raise InputError(f"phantoms need at least 7 slices (the classifier's window), got {scale.slices}")
    if set(scale.shares) != set(PHASES):
        raise InputError(f"phase shares must name exactly {', '.join(PHASES)}")
    return scale
