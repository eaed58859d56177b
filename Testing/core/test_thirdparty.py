"""The adapter over private captum / timm APIs (``IExplainLib/thirdparty.py``): each entry works with the installed
versions, which lie inside the ranges ``pyproject.toml`` pins."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import torch

from IExplainLib import thirdparty

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _as_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@pytest.mark.parametrize("package", ["captum", "timm"])
def test_installed_version_is_inside_the_pinned_range(package):
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if re.match(rf"{package}\b", d)]
    low, high = re.search(r">=([\d.]+),<([\d.]+)", pin).groups()
    assert _as_tuple(low) <= _as_tuple(version(package)) < _as_tuple(high)


def test_ig_quadrature_is_captums():
    step_sizes, alphas = thirdparty.ig_quadrature("gausslegendre")
    assert len(step_sizes(5)) == len(alphas(5)) == 5
    assert sum(step_sizes(5)) == pytest.approx(1.0)
    assert all(0.0 < a < 1.0 for a in alphas(5))
    with pytest.raises(ValueError):
        thirdparty.ig_quadrature("no_such_rule")


def test_efficientnet_built_from_block_strings_and_run_after_its_stem():
    model = thirdparty.efficientnet_from_arch([["cn_r1_k3_s1_e1_c8_skip"], ["er_r1_k3_s2_e4_c16"]], 2.0, 32, 8,
                                              in_chans=3, num_classes=1).eval()
    assert model.num_features == 64 and model.blocks[1][-1].conv_pwl.out_channels == 32  # widths doubled
    assert model.conv_stem.out_channels == 32  # the stem: scaled here and by timm (see the docstring)
    assert thirdparty.is_timm_efficientnet(model) and not thirdparty.is_timm_efficientnet(torch.nn.Conv2d(3, 3, 1))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(thirdparty.efficientnet_after_stem(model, model.conv_stem(x)), model(x), atol=1e-6)
