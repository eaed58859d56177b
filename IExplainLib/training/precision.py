"""The arithmetic precision of a training run: bf16 autocast where the GPU has it, fp16 with loss scaling where it
does not, full fp32 on the CPU or when mixed precision is switched off.

bf16 keeps fp32's exponent range, so it trains without a loss scaler; fp16 does not, and its small gradients would
underflow to zero without one. The choice is made once per run, here, so every trainer makes the same one.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ContextManager

if TYPE_CHECKING:
    import torch


class Precision:
    """Autocast and the optimiser step of one run on ``device``; ``mixed=False`` (or a CPU) keeps fp32."""

    def __init__(self, device: torch.device, mixed: bool = True):
        import torch

        self.device_type = device.type
        self.dtype: torch.dtype | None = None       # None: plain fp32, no autocast
        self.scaler: Any = None                     # torch.amp.GradScaler, only for fp16
        if mixed and device.type == "cuda":
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            if self.dtype == torch.float16:
                self.scaler = torch.amp.GradScaler("cuda")

    @property
    def mixed(self) -> bool:
        return self.dtype is not None

    @property
    def name(self) -> str:
        import torch

        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> ContextManager:
        """The context to run the forward pass in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Back-propagate ``loss`` and step ``optimizer``, through the loss scaler when fp16 needs one."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict:
        """What a checkpoint keeps of it: the loss scale, which fp16 adapts as it trains (empty otherwise)."""
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
