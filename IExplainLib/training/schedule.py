"""Learning-rate schedule of the paper: linear warmup to the base rate, then linear decay to a final rate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .time_limit import StepBudget

if TYPE_CHECKING:
    import torch


def warmup_linear_decay(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int | StepBudget,
                        final_lr: float = 1e-7) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` that rises linearly over ``warmup_steps``, then falls linearly to ``final_lr`` at ``total_steps``.

    The base rate is each parameter group's ``lr`` as set on the optimizer. ``total_steps`` may be a
    :class:`~IExplainLib.training.time_limit.StepBudget`: its ``total`` is read at every step, so a run the deadline
    shortens still ends at ``final_lr``.
    """
    import torch

    base_lrs = [group["lr"] for group in optimizer.param_groups]
    warmup_steps = max(0, int(warmup_steps))
    horizon = total_steps if isinstance(total_steps, StepBudget) else None
    fixed_total = None if horizon is not None else max(warmup_steps + 1, int(total_steps))

    def factor_for(base_lr: float):
        floor = min(1.0, final_lr / base_lr) if base_lr > 0 else 0.0

        def factor(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            if horizon is None:
                assert fixed_total is not None  # set whenever there is no horizon
                total = fixed_total
            else:
                total = max(warmup_steps + 1, int(horizon.total))
            progress = min(1.0, (step - warmup_steps) / max(1, total - warmup_steps))
            return 1.0 - (1.0 - floor) * progress
        return factor

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor_for(lr) for lr in base_lrs])
