"""torchrun / DistributedDataParallel plumbing.

``torchrun`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them everything runs as a single process. CUDA uses NCCL
with one GPU per process (LOCAL_RANK); CPU runs use gloo, which is how tests exercise the multi-process path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..devices import resolve_device

if TYPE_CHECKING:
    import torch


@dataclass
class DistributedContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP-wrap ``model`` when running under torchrun; the model itself otherwise."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        if self.device.type == "cuda":
            return DistributedDataParallel(model, device_ids=[self.device.index])
        return DistributedDataParallel(model)

    def mean(self, value: float) -> float:
        """Average a number over all processes (validation metrics, losses)."""
        if not self.distributed:
            return float(value)
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([float(value)], device=self.device)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        if self.distributed:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the torchrun process group when launched by torchrun; a one-process context otherwise."""
    import torch

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    chosen = resolve_device(device)
    if world_size > 1:
        import torch.distributed as dist

        if chosen.type == "cuda":
            chosen = torch.device("cuda", local_rank)
            torch.cuda.set_device(chosen)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    return DistributedContext(rank, world_size, local_rank, chosen)
