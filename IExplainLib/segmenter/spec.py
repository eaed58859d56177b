"""What a segmenter is: the DynUNet architecture and the input conventions, stored in its model card.

Axes: every size here is in array order **(z, y, x)**. The paper's patch "(128, 128, 64)" is (x, y, z), i.e.
``patch_size=(64, 128, 128)`` here. The network may run on a coarser in-plane grid than the CT
(``inplane_spacing_mm``): CPU inference of a 512x512x300 study has to fit in two minutes, and emboli of a few mm stay
several voxels wide at 1.4 mm. Slices are never resampled (the z spacing is the CT's own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ModelFileError

ARCHITECTURE = "monai.DynUNet"
# A second input channel a segmenter may read beside the windowed CT (``guidance``): ``candidates``, the candidate
# detector's filling defects (``candidates.proposals.find_candidates``, no training) as a 0/1 map: where in the
# opacified arteries a clot-density core lies (issue 23's artery-aware channel)
GUIDANCES = ("candidates",)


@dataclass
class SegmenterSpec:
    filters: tuple[int, ...] = (32, 64, 128, 256, 320, 320)
    patch_size: tuple[int, int, int] = (64, 128, 128)   # (z, y, x)
    kernels: tuple[tuple[int, int, int], ...] = ()      # derived from patch size and spacing when empty
    strides: tuple[tuple[int, int, int], ...] = ()
    hu_center: float = 100.0
    hu_width: float = 400.0
    inplane_spacing_mm: float | None = None             # None: run at the CT's own in-plane grid
    threshold: float = 0.5
    overlap: float = 0.5                                # MONAI overlap 0.5 == step 64x64x32 for 128x128x64
    sigma_scale: float = 0.25
    norm: str = "instance"
    res_block: bool = False
    out_channels: int = 2                               # background + PE, softmax (see loss.py)
    guidance: str | None = None                         # a second input channel (GUIDANCES); None: the CT alone

    def __post_init__(self):
        if self.guidance is not None and self.guidance not in GUIDANCES:
            raise ValueError(f"guidance must be one of {', '.join(GUIDANCES)} or none, got {self.guidance!r}")
        self.filters = tuple(int(f) for f in self.filters)
        patch_size = tuple(int(p) for p in self.patch_size)
        self.kernels = tuple(_zyx_ints(kernel, "kernel") for kernel in self.kernels)
        self.strides = tuple(_zyx_ints(stride, "stride") for stride in self.strides)
        if len(patch_size) != 3 or min(patch_size) < 4:
            raise ValueError(f"patch size needs three sizes >= 4 (z, y, x), got {patch_size}")
        self.patch_size = (patch_size[0], patch_size[1], patch_size[2])
        if len(self.filters) < 2:
            raise ValueError(f"a DynUNet needs at least 2 resolution levels (filters), got {list(self.filters)}")
        if not self.kernels:
            self.kernels, self.strides = nnunet_kernels_strides(self.patch_size, max_levels=len(self.filters))
        if len(self.filters) < len(self.strides):
            raise ValueError(f"{len(self.strides)} resolution levels need as many filters, got {self.filters}")
        self.filters = self.filters[:len(self.strides)]
        for axis, size in enumerate(self.patch_size):
            factor = 1
            for stride in self.strides:
                factor *= stride[axis]
            if size % factor:
                raise ValueError(f"patch size {self.patch_size} is not divisible by the network's total stride "
                                 f"along axis {axis} ({factor})")

    @property
    def in_channels(self) -> int:
        return 1 if self.guidance is None else 2

    def to_card(self) -> dict:
        card = asdict(self)
        if self.guidance is None:  # a CT-only segmenter's card (and resume fingerprint) stays as it was written
            del card["guidance"]
        card["axes"] = "zyx"
        return {key: list(value) if isinstance(value, tuple) else value for key, value in card.items()}

    @classmethod
    def from_card(cls, card: dict) -> "SegmenterSpec":
        spec = card.get("spec") if "spec" in card else card
        if not isinstance(spec, dict):
            raise ModelFileError("the segmenter card has no 'spec' section")
        known = {name for name in cls.__dataclass_fields__}
        try:
            return cls(**{key: value for key, value in spec.items() if key in known})
        except (TypeError, ValueError) as error:
            raise ModelFileError(f"the segmenter card's spec is invalid: {error}") from error

    def describe(self) -> str:
        guidance = f", + {self.guidance} channel" if self.guidance else ""
        return (f"DynUNet filters {list(self.filters)}, patch (z,y,x) {list(self.patch_size)}, "
                f"in-plane {self.inplane_spacing_mm or 'native'} mm{guidance}")


def _zyx_ints(values, what: str) -> tuple[int, int, int]:
    """A (z, y, x) triple of integers; any other count is refused (a card's are checked before, in modelfile)."""
    sizes = tuple(int(v) for v in values)
    if len(sizes) != 3:
        raise ValueError(f"a {what} needs three sizes (z, y, x), got {list(sizes)}")
    return sizes[0], sizes[1], sizes[2]


def nnunet_kernels_strides(patch_size, spacing=(1.0, 1.0, 1.0), max_levels: int = 6, min_size: int = 8):
    """nnU-Net's rule: halve every axis that is still >= ``min_size`` and not much coarser than the finest axis;
    3x3x3 kernels except along axes more than twice as coarse (1). First level has stride 1."""
    sizes = [float(s) for s in patch_size]
    spacing = [float(s) for s in spacing]
    kernels: list[tuple[int, ...]] = []
    strides: list[tuple[int, ...]] = [(1, 1, 1)]
    while len(strides) < max_levels:
        ratios = [s / min(spacing) for s in spacing]
        stride = tuple(2 if ratio <= 2 and size >= min_size and size % 2 == 0 else 1
                       for ratio, size in zip(ratios, sizes))
        if all(s == 1 for s in stride):
            break
        kernels.append(tuple(3 if ratio <= 2 else 1 for ratio in ratios))
        strides.append(stride)
        sizes = [size / s for size, s in zip(sizes, stride)]
        spacing = [sp * s for sp, s in zip(spacing, stride)]
    kernels.append((3, 3, 3))
    return tuple(kernels), tuple(strides)


PE_PRIOR_LOGIT = -4.0  # initial PE probability ~2% (softmax of +2 / -2)


def build_network(spec: SegmenterSpec):
    """The MONAI DynUNet the spec describes (deep supervision off: the loss sees the full-resolution output).

    The output bias starts at a PE prior of ~2% instead of 50% everywhere (the focal-loss prior trick): with 50%
    PE painted on every voxel the Generalized Dice gradient is spread thin and the first hundreds of iterations
    only unlearn that (measured: 3x faster loss decrease in the first 60 steps on phantom patches).
    """
    import torch
    from monai.networks.nets import DynUNet

    norms: dict[str, str | tuple[str, dict[str, bool]]] = {"instance": ("INSTANCE", {"affine": True}),
                                                           "batch": "BATCH"}
    norm = norms.get(spec.norm, spec.norm)
    network = DynUNet(spatial_dims=3, in_channels=spec.in_channels, out_channels=spec.out_channels,
                   kernel_size=[list(k) for k in spec.kernels], strides=[list(s) for s in spec.strides],
                   upsample_kernel_size=[list(s) for s in spec.strides[1:]], filters=list(spec.filters),
                   norm_name=norm, deep_supervision=False, res_block=spec.res_block)
    if spec.out_channels == 2:
        with torch.no_grad():
            network.output_block.conv.conv.bias.copy_(torch.tensor([-PE_PRIOR_LOGIT / 2, PE_PRIOR_LOGIT / 2]))
    return network


def count_parameters(network) -> int:
    return sum(parameter.numel() for parameter in network.parameters())


def _alias_groups(network) -> list[list[str]]:
    """Names of the state-dict entries that share storage (DynUNet reaches each block under two names)."""
    groups: dict[int, list[str]] = {}
    for name, tensor in network.state_dict(keep_vars=True).items():
        groups.setdefault(tensor.data_ptr(), []).append(name)
    return list(groups.values())


def portable_state_dict(network) -> dict:
    """The state dict with each shared tensor once (safetensors refuses aliases)."""
    state = network.state_dict()
    return {group[0]: state[group[0]] for group in _alias_groups(network)}


def complete_state_dict(network, state: dict) -> dict:
    """Give each aliased entry of ``network`` the tensor saved under one of its names (inverse of the above)."""
    full = dict(state)
    for group in _alias_groups(network):
        present = next((name for name in group if name in state), None)
        if present is not None:
            for name in group:
                full.setdefault(name, state[present])
    return full
