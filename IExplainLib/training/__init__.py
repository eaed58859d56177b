"""Pieces every training loop shares (classifier, segmenter, finetuning): the run skeleton the trainers fill in,
precision, schedule, checkpoints, torchrun/DDP."""

from .checkpoint import clean_interrupted_run, load_checkpoint, save_checkpoint
from .distributed import DistributedContext, init_distributed
from .precision import Precision
from .run import TrainingInterrupted, TrainingRun, checkpoint_policy
from .schedule import warmup_linear_decay
from .time_limit import StepBudget

__all__ = ["clean_interrupted_run", "load_checkpoint", "save_checkpoint", "DistributedContext", "init_distributed",
           "Precision", "TrainingRun", "TrainingInterrupted", "checkpoint_policy", "warmup_linear_decay",
           "StepBudget"]
