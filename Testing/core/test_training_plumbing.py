import pytest
import torch

from IExplainLib.errors import IExplainError
from IExplainLib.training import init_distributed, load_checkpoint, save_checkpoint, warmup_linear_decay


def test_warmup_then_linear_decay_to_final_rate():
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler = warmup_linear_decay(optimizer, warmup_steps=10, total_steps=110, final_lr=1e-7)
    rates = []
    for _ in range(110):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1e-5)
    assert rates[9] == pytest.approx(1e-4)
    assert all(b <= a for a, b in zip(rates[10:], rates[11:]))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-7)


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    model = torch.nn.Linear(3, 1)
    path = save_checkpoint(tmp_path / "ck.pt", {"model": model.state_dict(), "step": 7})
    state = load_checkpoint(path)
    assert state["step"] == 7 and torch.equal(state["model"]["weight"], model.weight)


def test_checkpoint_with_code_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)  # a whole module needs pickle to load
    with pytest.raises(IExplainError, match="cannot be loaded safely"):
        load_checkpoint(path)


def test_single_process_context_without_torchrun(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = init_distributed("cpu")
    assert context.is_main and not context.distributed and context.mean(3.0) == 3.0


def test_resume_rule_continues_same_settings_refuses_others_and_restart_discards(tmp_path):
    from IExplainLib.errors import OutputExistsError
    from IExplainLib.training.resume import SETTINGS_KEY, checkpoint_to_resume

    settings = {"spec": {"filters": [4, 8]}, "config": {"lr": 1e-3, "iterations": 10}}
    path = save_checkpoint(tmp_path / "ck.pt", {"step": 4, SETTINGS_KEY: settings})
    assert checkpoint_to_resume(tmp_path / "none.pt", settings) is None  # nothing to resume: start
    assert checkpoint_to_resume(path, settings)["step"] == 4
    other = {"spec": {"filters": [4, 16]}, "config": {"lr": 1e-3, "iterations": 20}}
    with pytest.raises(OutputExistsError, match=r"other settings \(config.iterations, spec.filters\).*--restart"):
        checkpoint_to_resume(path, other)
    assert checkpoint_to_resume(path, other, restart=True) is None
    # a checkpoint of an earlier version: the segmenter's settings at its top level
    old = save_checkpoint(tmp_path / "old.pt", {"step": 2, **settings})
    assert checkpoint_to_resume(old, settings)["step"] == 2
    with pytest.raises(OutputExistsError, match="other settings"):
        checkpoint_to_resume(save_checkpoint(tmp_path / "bare.pt", {"step": 1}), settings)
