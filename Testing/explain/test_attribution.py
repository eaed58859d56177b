"""The batched IG engine computes exactly what Captum computes (IG, several references, SmoothGrad)."""

from __future__ import annotations

import copy

import pytest
import torch
from captum.attr import IntegratedGradients, NoiseTunnel

from IExplainLib.explain.attribution import integrated_gradients, make_references, smoothgrad_noise
from IExplainLib.explain.model_prep import fuse_conv_bn, prepare_for_attribution


def relative_difference(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


def captum_reference(model, inputs, references, n_steps, method):
    """The plain Captum loop: one IntegratedGradients call per window and reference, averaged."""
    explainer = IntegratedGradients(model)
    out = []
    for window in range(inputs.shape[0]):
        total = sum(explainer.attribute(inputs[window:window + 1], baselines=references[window, r:r + 1], target=0,
                                        n_steps=n_steps, method=method)
                    for r in range(references.shape[1]))
        out.append(total / references.shape[1])
    return torch.cat(out)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_left"])
def test_engine_equals_captum_ig_with_several_references(small_net, method):
    torch.manual_seed(2)
    inputs = torch.rand(3, 3, 16, 16)
    references = make_references(inputs, ["zero", "blur", "uniform_noise", "mean"], 2.0,
                                 torch.Generator().manual_seed(0))
    expected = captum_reference(small_net, inputs, references, 12, method)
    # a batch size that does not divide the rows: chunks straddle windows and references
    got = integrated_gradients(small_net, inputs, references, None, n_steps=12, method=method, batch_size=7)
    assert expected.abs().max() > 1e-3  # a non-trivial attribution
    assert relative_difference(got, expected) < 1e-4


def test_engine_equals_captum_noise_tunnel_smoothgrad(small_net):
    torch.manual_seed(3)
    inputs = torch.rand(2, 3, 16, 16)
    references = make_references(inputs, ["zero", "blur"], 2.0)
    samples, stdev = 4, 0.1
    expected = []
    noises = []
    for window in range(2):
        per_reference = []
        for r in range(2):
            torch.manual_seed(100 + window)  # the same noise draws for every reference
            tunnel = NoiseTunnel(IntegratedGradients(small_net))
            per_reference.append(tunnel.attribute(inputs[window:window + 1], nt_type="smoothgrad",
                                                  nt_samples=samples, stdevs=stdev,
                                                  baselines=references[window, r:r + 1], target=0, n_steps=10))
        expected.append(sum(per_reference) / 2)
        # NoiseTunnel draws torch.normal(0, stdev) of shape (samples, C, H, W) for one input
        torch.manual_seed(100 + window)
        noises.append(torch.normal(0, torch.tensor(stdev).repeat((samples, 3, 16, 16))))
    expected = torch.cat(expected)
    got = integrated_gradients(small_net, inputs, references, torch.stack(noises), n_steps=10,
                               method="gausslegendre", batch_size=16)
    assert relative_difference(got, expected) < 1e-4
    plain = integrated_gradients(small_net, inputs, references, None, n_steps=10)
    assert relative_difference(plain, expected) > 1e-3  # the noise really changed the answer


def test_smoothgrad_noise_is_absolute_and_off_for_one_sample():
    inputs = torch.full((2, 3, 8, 8), 100.0)
    noise = smoothgrad_noise(inputs, 50, 0.5, torch.Generator().manual_seed(0))
    assert noise.shape == (2, 50, 3, 8, 8)
    assert abs(float(noise.std()) - 0.5) < 0.02  # not scaled by the input's range
    assert smoothgrad_noise(inputs, 1, 0.5) is None and smoothgrad_noise(inputs, 4, 0.0) is None


def test_references_have_their_meaning():
    inputs = torch.rand(2, 3, 16, 16)
    refs = make_references(inputs, ["zero", "one", "mean", "blur", "uniform_noise", "gaussian_noise"], 2.0,
                           torch.Generator().manual_seed(0))
    assert refs.shape == (2, 6, 3, 16, 16)
    assert refs[:, 0].abs().max() == 0 and torch.all(refs[:, 1] == 1)
    assert torch.allclose(refs[0, 2], inputs[0].mean().expand(3, 16, 16))
    assert refs[:, 3].std() < inputs.std()  # blurred
    assert 0 <= refs[:, 4].min() and refs[:, 4].max() <= 1 and 0 <= refs[:, 5].min() and refs[:, 5].max() <= 1


def test_prepared_model_is_the_same_function_and_faster_to_differentiate(small_net):
    fused, count = fuse_conv_bn(small_net)
    assert count == 2
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    inputs = torch.rand(4, 3, 16, 16)
    prepared = prepare_for_attribution(small_net, inputs[:1])
    assert all(not p.requires_grad for p in prepared.parameters())
    assert any(p.requires_grad for p in small_net.parameters())  # the original is untouched
    with torch.no_grad():
        assert relative_difference(prepared(inputs), small_net(inputs)) < 1e-5
    references = make_references(inputs, ["zero", "blur"], 2.0)
    expected = integrated_gradients(small_net, inputs, references, None, n_steps=8)
    got = integrated_gradients(prepared, inputs, references, None, n_steps=8, channels_last=True)
    assert relative_difference(got, expected) < 1e-4


def test_fusion_is_refused_when_it_would_change_the_function(small_net):
    class Reordered(torch.nn.Module):  # BatchNorm declared after the conv but applied before it
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.norm = torch.nn.BatchNorm2d(3)

        def forward(self, x):
            return self.conv(self.norm(x)).amax(dim=(1, 2, 3)).unsqueeze(1)

    model = Reordered().eval()
    with torch.no_grad():
        model.norm.running_mean.fill_(0.5)
    inputs = torch.rand(2, 3, 8, 8)
    prepared = prepare_for_attribution(copy.deepcopy(model), inputs)
    with torch.no_grad():
        assert torch.allclose(prepared(inputs), model(inputs), atol=1e-6)


def test_prepared_efficientnet_splits_its_affine_stem_and_still_equals_captum():
    from IExplainLib.classifier import ClassifierSpec, build_classifier
    from IExplainLib.explain.model_prep import AffineStemSplit

    torch.manual_seed(4)
    model = build_classifier(ClassifierSpec(input_size=32)).eval()
    inputs = torch.rand(2, 7, 32, 32)
    prepared = prepare_for_attribution(model, inputs[:1])
    assert isinstance(prepared, AffineStemSplit)
    references = make_references(inputs, ["zero", "blur"], 2.0)
    expected = captum_reference(model, inputs, references, 9, "gausslegendre")
    # 9 steps in chunks of 4 rows: one path's steps are spread over several chunks
    for batch_size in (4, 64):
        got = integrated_gradients(prepared, inputs, references, None, n_steps=9, batch_size=batch_size,
                                   channels_last=True)
        assert relative_difference(got, expected) < 1e-4
