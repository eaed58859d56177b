"""Model files that travel (IExplainLib.model_parts): bf16 copies, split into parts and joined back."""

import json
import os

import pytest
import torch

from IExplainLib.cli.main import main
from IExplainLib.errors import OutputExistsError
from IExplainLib.model_parts import PartsError, join_parts, pack_models, split_files, to_bf16
from IExplainLib.modelfile import bundled_model, load_model_file, load_state_into, read_card, save_model, sha256_of

KIB = 1 / 1024  # part_mib of 1 KiB: the tests write kilobytes


def test_bf16_copy_halves_the_file_loads_into_float32_and_predicts_like_the_original(tmp_path):
    from IExplainLib.classifier.inference import load_classifier

    source = bundled_model("demo-classifier")
    copy = to_bf16(source, tmp_path / "c16.safetensors")
    card = read_card(copy, "classifier")
    assert card["weights_dtype"] == "bfloat16"
    assert card["converted_from"]["sha256"] == sha256_of(source)
    assert card["spec"] == read_card(source)["spec"] and card["sha256"] == sha256_of(copy)
    state, _ = load_model_file(copy)
    floats = [t for t in state.values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.bfloat16 for t in floats)
    ints = {name for name, t in load_model_file(source)[0].items() if not t.is_floating_point()}
    assert all(state[name].dtype == torch.int64 for name in ints)  # integer buffers kept
    assert copy.stat().st_size < 0.55 * source.stat().st_size

    original, half = load_classifier(source), load_classifier(copy)
    assert all(p.dtype == torch.float32 for p in half.model.parameters())  # cast into the float32 model
    size = original.spec.input_size
    x = torch.randn(6, 7, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        p32, p16 = torch.sigmoid(original.model(x)).flatten(), torch.sigmoid(half.model(x)).flatten()
    # stated tolerance: slice probabilities within 0.02 of the float32 model's
    assert (p32 - p16).abs().max() < 0.02
    assert not torch.equal(p32, p16)  # it did run the bf16-rounded weights


def test_load_state_into_casts_bf16_into_a_float32_module():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    other = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    load_state_into(other, state, "x")
    assert other[0].weight.dtype == torch.float32
    assert torch.allclose(other[0].weight, net[0].weight, atol=1e-2)


def _files(tmp_path, sizes=(3000, 0, 5000, 700)):
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for index, size in enumerate(sizes):
        path = folder / f"f{index}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def test_split_and_join_round_trip_byte_identical(tmp_path):
    paths = _files(tmp_path)
    manifest = split_files(paths, tmp_path / "parts", part_mib=4 * KIB, max_parts=8, name="m")
    data = json.loads(manifest.read_text())
    parts = sorted((tmp_path / "parts").glob("m.part[0-9]*"))
    assert [p.name for p in parts] == [e["name"] for e in data["parts"]] and len(parts) >= 3
    assert all(p.stat().st_size <= 4096 for p in parts)
    assert [m["name"] for m in data["members"]] == [p.name for p in paths]
    joined = join_parts(manifest, tmp_path / "out")
    assert [p.name for p in joined] == [p.name for p in paths]
    for path in paths:
        assert (tmp_path / "out" / path.name).read_bytes() == path.read_bytes()


def test_a_corrupt_or_missing_part_is_refused_in_one_line(tmp_path):
    manifest = split_files(_files(tmp_path), tmp_path / "parts", part_mib=4 * KIB, name="m")
    second = tmp_path / "parts" / "m.part02"
    good = second.read_bytes()
    second.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    with pytest.raises(PartsError, match=r"part 2 of \d+ .* is corrupt") as error:
        join_parts(manifest, tmp_path / "out")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    second.unlink()
    with pytest.raises(PartsError, match=r"part 2 of \d+ .* is missing") as error:
        join_parts(manifest, tmp_path / "out")
    assert "\n" not in str(error.value)


def test_too_many_parts_or_bytes_are_refused_before_writing(tmp_path):
    paths = _files(tmp_path)
    with pytest.raises(PartsError, match="need .* parts of .* more than the 2 allowed"):
        split_files(paths, tmp_path / "parts", part_mib=4 * KIB, max_parts=2)
    with pytest.raises(PartsError, match="more than the .* MiB allowed"):
        split_files(paths, tmp_path / "parts", part_mib=4 * KIB, max_parts=8, max_bytes=8192)
    assert not (tmp_path / "parts").exists() or not any((tmp_path / "parts").iterdir())


def test_join_refuses_to_overwrite_unless_asked(tmp_path):
    paths = _files(tmp_path)
    manifest = split_files(paths, tmp_path / "parts", part_mib=4 * KIB)
    out = tmp_path / "out"
    out.mkdir()
    (out / "f2.bin").write_bytes(b"mine")
    with pytest.raises(OutputExistsError):
        join_parts(manifest, out)
    assert (out / "f2.bin").read_bytes() == b"mine" and not (out / "f0.bin").exists()
    join_parts(manifest, out, overwrite=True)
    assert (out / "f2.bin").read_bytes() == paths[2].read_bytes()


def test_cli_join_parts(tmp_path, capsys):
    paths = _files(tmp_path)
    manifest = split_files(paths, tmp_path / "parts", part_mib=4 * KIB)
    assert main(["join-parts", str(manifest), "-o", str(tmp_path / "out")]) == 0
    assert "f3.bin" in capsys.readouterr().out
    assert main(["join-parts", str(manifest), "-o", str(tmp_path / "out")]) == 2
    assert "already exists" in capsys.readouterr().err
    (tmp_path / "parts" / "models.part01").unlink()
    assert main(["join-parts", str(manifest), "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip()
    assert "part 1 of" in err and "missing" in err and "\n" not in err


def test_pack_models_ships_bf16_where_float32_does_not_fit(tmp_path):
    models = tmp_path / "models"
    big = torch.nn.Linear(600, 600)  # 1.44 MB float32, 0.72 MB bf16
    small = torch.nn.Linear(10, 10)
    save_model(models / "classifier", big.state_dict(), {"kind": "classifier", "architecture": "test"})
    save_model(models / "wsl-segmenter", small.state_dict(), {"kind": "segmenter", "architecture": "test"})
    save_model(models / "random-init", big.state_dict(), {"kind": "segmenter", "architecture": "test"})
    summary = pack_models(models, tmp_path / "out", max_bytes=1 << 20, max_parts=4, part_mib=0.25)
    assert summary["shipped"] == {"classifier": "bfloat16", "wsl-segmenter": "original"}
    assert summary["left"] == ["random-init"]
    joined = {p.name for p in join_parts(summary["manifest"], tmp_path / "back")}
    assert joined == {"classifier.safetensors", "classifier.json", "wsl-segmenter.safetensors", "wsl-segmenter.json",
                      "random-init.json"}
    assert read_card(tmp_path / "back" / "classifier.json")["weights_dtype"] == "bfloat16"
    load_model_file(tmp_path / "back" / "classifier.safetensors")  # checksum of the bf16 copy matches its card
