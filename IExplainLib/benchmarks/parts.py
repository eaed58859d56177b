"""A benchmark in parts under a deadline: each part starts only before the deadline, and a part that runs out of
memory (``torch.cuda.OutOfMemoryError``, ``MemoryError``) is recorded in one line while the parts already measured,
and those after it, are kept. Figures of a part that did not run are simply absent; ``summary()`` says why."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

TIME_SPENT = "the bench's time limit was reached before this part"


class PartCut(Exception):
    """Raised by a part stopped at the deadline with nothing measured to keep (e.g. a measuring child process
    stopped): recorded under ``cut`` with its message."""


def one_line(error: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    import torch

    return (torch.cuda.OutOfMemoryError, MemoryError)


class BenchParts:
    """Runs named parts in order. ``deadline``: a ``clock()`` value (None: no limit)."""

    def __init__(self, deadline: float | None = None, device=None, clock: Callable[[], float] = time.monotonic):
        self.deadline = deadline
        self.device = device
        self.clock = clock
        self.done: list[str] = []
        self.skipped: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.cut: dict[str, str] = {}      # parts that stopped early at a row boundary, keeping what they measured

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def run(self, name: str, function: Callable[[], T], needs: tuple[str, ...] = ()) -> T | None:
        """``function()``'s result, or None when the part is skipped (a part it needs did not finish, or the
        deadline passed) or ran out of memory."""
        missing = [need for need in needs if need not in self.done]
        if missing:
            self.skipped[name] = f"needs the {missing[0]} part, which did not finish"
            return None
        if self.out_of_time():
            self.skipped[name] = TIME_SPENT
            return None
        try:
            result = function()
        except PartCut as stopped:
            self.cut[name] = str(stopped)
            return None
        except out_of_memory_errors() as error:
            self.errors[name] = one_line(error)
            self._free_memory()
            return None
        self.done.append(name)
        return result

    def _free_memory(self) -> None:
        import gc

        gc.collect()
        if getattr(self.device, "type", None) == "cuda":
            import torch

            torch.cuda.empty_cache()

    def summary(self) -> dict:
        """``{"parts": {...}}`` and, only when a part ran out of memory, ``{"errors": {part: one line}}``."""
        parts: dict = {"done": list(self.done)}
        if self.skipped:
            parts["skipped"] = dict(self.skipped)
        if self.cut:
            parts["cut"] = dict(self.cut)
        return {"parts": parts, **({"errors": dict(self.errors)} if self.errors else {})}


def rows_that_fit(model, example, device, cap: int, share: float = 0.6) -> int:
    """Rows of a forward + input-gradient backward that fit ``share`` of the GPU's free memory (at most ``cap``),
    from the measured peak of one and of two rows; ``cap`` on the CPU."""
    if getattr(device, "type", None) != "cuda" or cap <= 1:
        return max(1, cap)
    import torch

    def peak(rows: int) -> int:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        batch = example[:1].expand(rows, *example.shape[1:]).contiguous(memory_format=torch.channels_last)
        batch.requires_grad_(True)
        torch.autograd.grad(model(batch).sum(), batch)
        del batch
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before

    one, two = peak(1), peak(2)
    per_row = max(two - one, one // 2, 1)
    fixed = max(0, one - per_row)
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, min(cap, int((share * free - fixed) // per_row)))
