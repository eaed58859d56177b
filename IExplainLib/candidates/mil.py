"""Multiple-instance training of a reducer from slice labels (Liang & Bi 2007's order: candidates, then MIL).

A candidate spans slices ``[first, last]``. It is a *negative* instance when none of its slices is a PE slice (every
candidate of a PE-negative study is one). Each PE slice is a *bag* of the candidates that span it and lie within PE
slices (``min_pe_share`` of their slices; an embolus's candidate lies within its PE slices, while a vessel wall or a
vein that only crosses a PE slice runs beyond them): at least one of them is an embolus, so the bag's score, the
largest of its candidates', is pushed towards 1. With a ``bag_leak`` the bag is positive with probability
``leak + (1 - leak) * max``: a PE slice whose embolus no candidate holds (a quarter to a half of the bags of real
anatomy, experiment 21) then no longer forces its most clot-like look-alike up. With a ``bag_sharpness`` r the bag's
score is the log-mean-exp of its candidates' logits at that sharpness instead of their maximum (the mean as r -> 0,
the maximum as r -> inf): the gradient reaches every likely member, not only the one that ranks first early in
training (experiment 24e). Candidates that span a PE slice are never labelled negative, and no candidate is ever
labelled positive by itself. ``naive`` supervision, the ablation's comparison, instead calls every candidate that
spans a PE slice an embolus; ``soft`` gives each candidate the share of its slices that are PE slices as its target.

The loop is :class:`MILTraining`, the reducer's hooks of the training skeleton (``training.run.TrainingRun``): the
skeleton's refusals, time limit, clean-up of a killed run and model writing, with the reducer's own one-cycle
schedule. :func:`train_reducer_model` runs it in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..training.run import TrainingRun
from .reducer import needs_patches
from .training_data import StudyCandidates

SUPERVISIONS = ("mil", "naive", "soft")


@dataclass
class Bags:
    negatives: np.ndarray          # candidate indices
    positive_bags: list[np.ndarray]  # one index array per distinct bag
    spans_pe: np.ndarray           # bool per candidate: spans at least one PE slice
    pe_share: np.ndarray           # per candidate: the share of its slices that are PE slices


def study_bags(study: StudyCandidates, min_pe_share: float = 0.0) -> Bags:
    """Negatives and positive bags of one study. ``min_pe_share``: a candidate joins a bag only when at least that
    share of its slices are PE slices (an embolus lies within PE slices; a structure running far beyond them is
    less likely to be the bag's embolus)."""
    labels = study.slice_labels
    share = np.array([labels[a:b + 1].mean() for a, b in study.slice_ranges], float)
    spans = share > 0
    distinct: dict[tuple, np.ndarray] = {}
    for z in np.flatnonzero(labels):
        members = np.flatnonzero((study.slice_ranges[:, 0] <= z) & (study.slice_ranges[:, 1] >= z)
                                 & (share >= min_pe_share))
        if members.size:
            distinct.setdefault(tuple(members), members)
    return Bags(np.flatnonzero(~spans), list(distinct.values()), spans, share)


def bag_logit(logits: torch.Tensor, sharpness: float | None = None) -> torch.Tensor:
    """A bag's logit from its members': the maximum (``sharpness`` None), else their log-mean-exp at that sharpness."""
    if sharpness is None:
        return logits.max()
    return (torch.logsumexp(sharpness * logits, 0) - float(np.log(len(logits)))) / sharpness


def study_loss(model, study: StudyCandidates, bags: Bags, supervision: str, device="cpu",
               bag_leak: float = 0.0, bag_sharpness: float | None = None) -> torch.Tensor:
    features = torch.from_numpy(study.features).to(device)
    patches = torch.from_numpy(study.patches.astype(np.float32)).to(device) if needs_patches(model) else None
    logits = model(patches, features)
    if supervision == "naive":
        return F.binary_cross_entropy_with_logits(logits, torch.from_numpy(bags.spans_pe.astype(np.float32)))
    if supervision == "soft":
        return F.binary_cross_entropy_with_logits(logits, torch.from_numpy(bags.pe_share.astype(np.float32)))
    terms = []
    if bags.negatives.size:
        negative = logits[torch.from_numpy(bags.negatives)]
        terms.append(F.binary_cross_entropy_with_logits(negative, torch.zeros_like(negative)))
    if bags.positive_bags:
        best = torch.stack([bag_logit(logits[torch.from_numpy(members)], bag_sharpness)
                            for members in bags.positive_bags])
        if bag_leak:
            # log(leak + (1 - leak) * sigmoid(best)), computed from log-sigmoids so that it stays finite
            leaky = torch.logaddexp(torch.full_like(best, float(np.log(bag_leak))),
                                    float(np.log1p(-bag_leak)) + F.logsigmoid(best))
            terms.append(-leaky.mean())
        else:
            terms.append(F.binary_cross_entropy_with_logits(best, torch.ones_like(best)))
    return torch.stack(terms).mean()


@dataclass(frozen=True)
class MILSettings:
    """What the reducer's training loop reads: :func:`train_reducer_model`'s arguments."""

    supervision: str = "mil"
    epochs: int = 30
    lr: float = 2e-3
    seed: int = 0
    min_pe_share: float = 0.0
    bag_leak: float = 0.0
    bag_sharpness: float | None = None

    def __post_init__(self):
        if self.supervision not in SUPERVISIONS:
            raise InputError(f"unknown supervision {self.supervision!r}: choose one of {', '.join(SUPERVISIONS)}")
        if self.epochs < 1 or not 0 < self.lr < 1:
            raise InputError("the reducer needs epochs >= 1 and a learning rate in (0, 1)")
        if not 0.0 <= self.bag_leak < 1.0:
            raise InputError(f"the bag leak must be in [0, 1), got {self.bag_leak}")
        if self.bag_sharpness is not None and not 0 < self.bag_sharpness < float("inf"):
            raise InputError(f"the bag sharpness must be a positive number (None: the maximum), got {self.bag_sharpness}")

    @property
    def weight_decay(self) -> float:
        return 1e-3

    @property
    def amp(self) -> bool:
        return False  # fp32: the reducer trains on the CPU

    @property
    def checkpoint_every(self) -> int | None:
        return None


class MILTraining(TrainingRun[MILSettings]):
    """The reducer's hooks of the training skeleton: each study's candidates are one batch (the study's loss), the
    studies are shuffled every epoch, AdamW follows a one-cycle schedule, in fp32 on the CPU. ``model`` is trained in
    place; ``out`` None: in memory (:func:`train_reducer_model`), else the model file
    (``candidates.train.ReducerTraining`` adds its card). Runs take seconds to minutes, so none keeps a checkpoint:
    a killed run starts over."""

    resumable = False

    def __init__(self, model: torch.nn.Module, studies: list[StudyCandidates], settings: MILSettings,
                 out: str | Path | None = None, log: Callable[[str], None] | None = None, **run: Any):
        super().__init__(settings, out, device="cpu", **run)
        self.given, self.log = model, log
        self.studies = [s for s in studies if len(s)]
        if not self.studies:
            raise InputError("no study has any candidate to learn from")
        self.epoch_loss = 0.0

    def resume_settings(self) -> dict:
        return {}  # never resumed

    def prepare(self, state: dict | None) -> int:
        self.rng = np.random.default_rng(self.config.seed)
        self.bags = [study_bags(s, self.config.min_pe_share) for s in self.studies]
        self.steps_per_epoch = len(self.studies)
        return self.config.epochs * len(self.studies)

    def build_model(self) -> torch.nn.Module:
        # the mean and spread of the feature columns the model reads (``inputs``, the first ones; a model without
        # it reads them all), from the training set
        standardise: Any = self.given.standardise
        features = np.concatenate([s.features for s in self.studies])
        inputs: int = getattr(type(self.given), "inputs", len(features[0]) if len(features) else 0)
        standardise.fit(torch.from_numpy(features[:, :inputs]))
        return self.given

    def build_optimizer(self) -> tuple[torch.optim.Optimizer, Any]:
        optimiser = torch.optim.AdamW(self.model.parameters(), lr=self.config.lr,
                                      weight_decay=self.config.weight_decay)
        return optimiser, torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=self.config.lr,
                                                              total_steps=self.budget.planned)

    def seed_draws(self) -> None:
        torch.manual_seed(self.config.seed)

    def batches(self, epoch: int, done_in_epoch: int) -> np.ndarray:
        self.model.train()
        self.epoch_loss = 0.0
        return self.rng.permutation(len(self.studies))[done_in_epoch:]

    def loss_of(self, batch) -> torch.Tensor:
        return study_loss(self.model, self.studies[batch], self.bags[batch], self.config.supervision,
                          bag_leak=self.config.bag_leak, bag_sharpness=self.config.bag_sharpness)

    def log_step(self, epoch: int, loss: torch.Tensor) -> None:
        self.epoch_loss += float(loss.detach())

    def end_epoch(self, epoch: int) -> None:
        if self.log is not None:
            self.log(f"epoch {epoch + 1}/{self.config.epochs}: loss {self.epoch_loss / len(self.studies):.4f}")

    def card(self) -> dict:
        """What the loop knows of the model; ``ReducerTraining`` writes the whole card."""
        return {"training": {"supervision": self.config.supervision, "studies": len(self.studies),
                             **self.run_facts()}}


def train_reducer_model(model, studies: list[StudyCandidates], supervision: str = "mil", epochs: int = 30,
                        lr: float = 2e-3, seed: int = 0, log=None, min_pe_share: float = 0.0, bag_leak: float = 0.0,
                        bag_sharpness: float | None = None):
    """Train ``model`` in place on ``studies`` (each study one step's loss, studies shuffled every epoch), in memory;
    returns it in eval mode."""
    MILTraining(model, studies, MILSettings(supervision, epochs, lr, seed, min_pe_share, bag_leak, bag_sharpness),
                log=log).run()
    return model.eval()


@torch.no_grad()
def score_study(model, study: StudyCandidates) -> np.ndarray:
    """Embolus probability of each candidate of ``study``."""
    if not len(study):
        return np.zeros(0, np.float32)
    model.eval()
    patches = torch.from_numpy(study.patches.astype(np.float32)) if needs_patches(model) else None
    return torch.sigmoid(model(patches, torch.from_numpy(study.features))).numpy()
