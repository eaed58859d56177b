"""Measuring detections: finding-level metrics (cluster matching), slice metrics, threshold tuning, ablation.

Light modules only are imported here; the explainer-driven runs (``tuning_run``, ``ablation_run``) import torch.
"""

from .ablation import IterationStudy, iteration_curves, summarise
from .evaluate import evaluate, format_report
from .finding_metrics import FindingCounts, is_instance_mask, match_findings, match_mask, pooled, truth_instances
from .slice_metrics import auroc, slice_metrics
from .threshold_tuning import CachedStudy, choose_threshold, sweep_thresholds

__all__ = ["FindingCounts", "match_findings", "match_mask", "truth_instances", "is_instance_mask", "pooled",
           "auroc", "slice_metrics", "evaluate", "format_report", "CachedStudy", "sweep_thresholds",
           "choose_threshold", "IterationStudy", "iteration_curves", "summarise"]
