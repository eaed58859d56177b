"""The one bf16/fp16/fp32 choice of every trainer (IExplainLib/training/precision.py), on real torch modules."""

import warnings

import pytest
import torch

from IExplainLib.training import Precision


def test_the_cpu_trains_in_fp32_and_steps_as_plain_backward_and_step():
    precision = Precision(torch.device("cpu"), mixed=True)  # mixed precision is asked for, but only CUDA has it
    assert not precision.mixed and precision.name == "fp32" and precision.state_dict() == {}
    torch.manual_seed(0)
    ours, plain = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    plain.load_state_dict(ours.state_dict())
    before = ours.weight.detach().clone()
    inputs = torch.randn(5, 3)
    with precision.autocast():
        output = ours(inputs)
    assert output.dtype == torch.float32
    optimizer, reference = torch.optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(plain.parameters(), lr=0.1)
    precision.backward_and_step(output.square().mean(), optimizer)
    plain(inputs).square().mean().backward()
    reference.step()
    assert torch.equal(ours.weight, plain.weight) and not torch.equal(ours.weight, before)


@pytest.mark.parametrize("bf16, name, scaled", [(True, "bf16", False), (False, "fp16", True)])
def test_cuda_takes_bf16_where_the_gpu_has_it_and_fp16_with_a_loss_scaler_otherwise(monkeypatch, bf16, name,
                                                                                    scaled):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a loss scaler made on a machine without a GPU warns that it is idle
        precision = Precision(torch.device("cuda"), mixed=True)
        unmixed = Precision(torch.device("cuda"), mixed=False)  # --no-amp
    assert precision.mixed and precision.name == name and (precision.scaler is not None) == scaled
    assert not unmixed.mixed and unmixed.name == "fp32" and unmixed.scaler is None
