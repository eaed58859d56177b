"""Multiple-instance training of a reducer from slice labels (Liang & Bi 2007's order: candidates, then MIL).

A candidate spans slices ``[first, last]``. It is a *negative* instance when none of its slices is a PE slice (every
candidate of a PE-negative study is one). Each PE slice is a *bag* of the candidates that span it and lie within PE
slices (``min_pe_share`` of their slices; an embolus's candidate lies within its PE slices, while a vessel wall or a
vein that only crosses a PE slice runs beyond them): at least one of them is an embolus, so the bag's score, the
largest of its candidates', is pushed towards 1. Candidates that span a PE
slice are never labelled negative, and no candidate is ever labelled positive by itself. ``naive`` supervision, the
ablation's comparison, instead calls every candidate that spans a PE slice an embolus; ``soft`` gives each candidate
the share of its slices that are PE slices as its target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

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


def study_loss(model, study: StudyCandidates, bags: Bags, supervision: str, device="cpu") -> torch.Tensor:
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
        best = torch.stack([logits[torch.from_numpy(members)].max() for members in bags.positive_bags])
        terms.append(F.binary_cross_entropy_with_logits(best, torch.ones_like(best)))
    return torch.stack(terms).mean()


def train_reducer_model(model, studies: list[StudyCandidates], supervision: str = "mil", epochs: int = 30,
                        lr: float = 2e-3, seed: int = 0, log=None, min_pe_share: float = 0.0):
    """Train ``model`` in place on ``studies`` (each study one step's loss, studies shuffled every epoch)."""
    if supervision not in SUPERVISIONS:
        raise ValueError(f"unknown supervision {supervision!r}: choose one of {', '.join(SUPERVISIONS)}")
    studies = [s for s in studies if len(s)]
    if not studies:
        raise ValueError("no study has any candidate to learn from")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model.standardise.fit(torch.from_numpy(np.concatenate([s.features for s in studies])))
    bags = [study_bags(s, min_pe_share) for s in studies]
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * len(studies))
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for index in rng.permutation(len(studies)):
            loss = study_loss(model, studies[index], bags[index], supervision)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: loss {total / len(studies):.4f}")
    model.eval()
    return model


@torch.no_grad()
def score_study(model, study: StudyCandidates) -> np.ndarray:
    """Embolus probability of each candidate of ``study``."""
    if not len(study):
        return np.zeros(0, np.float32)
    model.eval()
    patches = torch.from_numpy(study.patches.astype(np.float32)) if needs_patches(model) else None
    return torch.sigmoid(model(patches, torch.from_numpy(study.features))).numpy()
