"""Measuring detections: finding-level metrics (cluster matching), threshold tuning, ablation, the quality run.
Slice metrics live in :mod:`IExplainLib.slice_metrics` (shared with the classifier's training).

Light modules only are imported here; the explainer-driven runs (``tuning_run``, ``ablation_run``) import torch.
"""

from .ablation import IterationStudy, iteration_curves, summarise
from .evaluate import evaluate, format_report
from .finding_metrics import FindingCounts, is_instance_mask, match_findings, match_mask, pooled, truth_instances
from .threshold_tuning import CachedStudy, choose_threshold, sweep_thresholds

__all__ = ["FindingCounts", "match_findings", "match_mask", "truth_instances", "is_instance_mask", "pooled",
           "evaluate", "format_report", "CachedStudy", "sweep_thresholds",
           "choose_threshold", "IterationStudy", "iteration_curves", "summarise"]
