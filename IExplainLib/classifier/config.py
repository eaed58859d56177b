"""The classifier trainer's settings as one validated object, as MONAI validates constructor arguments: a bad value
is refused in one line when the object is made, before any study is read."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import InputError

POSITIVE_CENTRES = ("truth", "evidence", "image")


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Schedule, sampling and patch settings of :func:`~IExplainLib.classifier.train.train_classifier`.

    ``crop`` > 0 trains on ``crop`` x ``crop`` patches (0: whole slices). ``hard_negatives`` (patches only)
    re-mines, at every epoch start, where the current network sees the most PE evidence in each negative slice and
    centres half of the negative patches there. ``positive_centres`` (patches only): ``truth`` centres PE patches on
    labelled voxels; ``evidence`` on where the current network sees the most PE evidence in each PE slice (slice
    labels only); ``image`` on small clot-density spots inside opacified lumen found from HU (slice labels only).
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.01
    final_lr: float = 1e-7
    val_fraction: float = 0.2
    samples_per_epoch: int | None = None
    seed: int = 0
    workers: int = 0
    amp: bool = True
    checkpoint_every: int | None = None
    crop: int = 0
    hard_negatives: bool = False
    positive_centres: str = "truth"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise InputError("epochs and batch size must be at least 1")
        if not self.lr > 0 or self.warmup < 0 or self.weight_decay < 0 or not self.final_lr >= 0:
            raise InputError("the learning rate must be positive, warmup, weight decay and final rate not negative")
        if not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"the validation fraction must lie in [0, 1), got {self.val_fraction}")
        if self.samples_per_epoch is not None and self.samples_per_epoch < 1:
            raise InputError("samples per epoch must be at least 1")
        if self.workers < 0 or (self.checkpoint_every is not None and self.checkpoint_every < 1):
            raise InputError("workers must not be negative and the checkpoint interval must be at least 1")
        if self.crop < 0:
            raise InputError(f"the patch size (--crop) must not be negative, got {self.crop}")
        if self.hard_negatives and not self.crop:
            raise InputError("hard-negative mining needs patch training (--crop)")
        if self.positive_centres not in POSITIVE_CENTRES:
            raise InputError(f"positive centres are 'truth', 'evidence' or 'image', got {self.positive_centres!r}")
        if self.positive_centres != "truth" and not self.crop:
            raise InputError(f"{self.positive_centres}-centred positives need patch training (--crop)")

    def as_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> dict:
        """What must match for a checkpoint to be resumed: all but how often it is written and how many loader
        processes read the data (neither changes what is trained)."""
        data = self.as_dict()
        for name in ("checkpoint_every", "workers"):
            data.pop(name)
        return data
