"""Attribution presets: how much Integrated Gradients voting a run spends (steps x references x SmoothGrad samples).

* ``paper``: the paper's voting, the :class:`ExplainParams` defaults (20 Gauss-Legendre steps, 5 references,
  3 SmoothGrad samples: 300 forward/backward passes per window).
* ``fast``: the demo's setting (8 steps, references zero and blur, 2 samples: 32 passes per window, about 9x less
  work), the one the bundled classifier's threshold h was tuned with and the ablation report measured.

The values are :data:`IExplainLib.explain.params.PRESETS`, beside the defaults ``paper`` is made of; this module
chooses one for a run and says so. When the user names none, the device chooses: ``paper`` on CUDA, ``fast``
elsewhere (a CPU). The run states the preset and why in its progress output and records it in the findings JSON,
with the fields that ``--params`` or an explicit flag changed afterwards (precedence: defaults -> model card ->
preset -> ``--params`` -> flags).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .params import PRESET_FIELDS, PRESETS, ExplainParams, preset_values

if TYPE_CHECKING:
    import torch


def describe_preset(name: str) -> str:
    values = PRESETS[name]
    return (f"{values['n_steps']} IG steps x {len(values['references'])} references ({', '.join(values['references'])})"
            f" x {values['smoothgrad_samples']} SmoothGrad samples")


def preset_for_device(device: torch.device | str) -> str:
    """``paper`` on a CUDA device, ``fast`` on anything else."""
    return "paper" if getattr(device, "type", str(device)).startswith("cuda") else "fast"


@dataclass
class PresetChoice:
    name: str
    chosen_by: str  # "--preset" or "device cpu" / "device cuda"
    overridden: list[str] = field(default_factory=list)  # preset fields --params or flags changed afterwards

    def note_overrides(self, params: ExplainParams) -> "PresetChoice":
        self.overridden = [name for name in PRESET_FIELDS if getattr(params, name) != PRESETS[self.name][name]]
        return self

    def as_dict(self) -> dict:
        return {"name": self.name, "chosen_by": self.chosen_by, "settings": dict(PRESETS[self.name]),
                "overridden": list(self.overridden)}

    def message(self) -> str:
        other = "fast" if self.name == "paper" else "paper"
        text = f"attribution preset {self.name} ({describe_preset(self.name)}; "
        text += ("chosen with --preset" if self.chosen_by == "--preset"
                 else f"chosen for the {self.chosen_by.split()[-1]} device; --preset {other} to change")
        text += ")"
        if self.overridden:
            text += f"; overridden by --params/flags: {', '.join(self.overridden)}"
        return text


def choose_preset(name: str | None, device: torch.device | str) -> PresetChoice:
    """The user's preset, or the device's when ``name`` is None."""
    if name is None:
        kind = getattr(device, "type", str(device))
        return PresetChoice(preset_for_device(device), f"device {kind}")
    preset_values(name)  # refuses an unknown name
    return PresetChoice(name, "--preset")
