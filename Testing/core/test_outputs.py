import pytest

from IExplainLib.errors import IExplainError, OutputExistsError
from IExplainLib.outputs import atomic_output, write_text_atomic


def test_existing_file_is_kept_unless_overwrite(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("precious")
    with pytest.raises(OutputExistsError, match="already exists"):
        write_text_atomic(target, "new")
    assert target.read_text() == "precious"
    write_text_atomic(target, "new", overwrite=True)
    assert target.read_text() == "new"


def test_failure_mid_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "sub" / "mask.seg.nrrd"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as temporary:
            assert temporary.name.endswith(".seg.nrrd")  # writers that pick the format by ending still work
            temporary.write_bytes(b"half")
            raise RuntimeError("crash")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_failure_keeps_the_previous_version(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, overwrite=True) as temporary:
            temporary.write_text("partial")
            raise RuntimeError("crash")
    assert target.read_text() == "old"


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(IExplainError):
        with atomic_output(tmp_path / "x.txt"):
            pass
