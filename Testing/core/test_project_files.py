"""The README's promises that CI relies on: CI runs exactly the README's test command."""

import re

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def fenced_commands(markdown: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    commands = fenced_commands(readme.split("## The two commands")[1].split("\n## ")[0])
    assert len(commands) == 2, "the README gives exactly two commands: the demo and the tests"
    demo, tests = commands
    assert demo.endswith("iexplain demo") and "pytest" in tests
    ci_lines = [line for line in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith("#")]
    assert tests in ci_lines


def test_torch_pins_are_the_ones_available_offline():
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"torch==2.14.1"' in pyproject and '"torchvision==0.29.1"' in pyproject
    assert not re.search(r'^\s*"slicer[=<>" ]', pyproject, flags=re.M), "the PyPI 'slicer' package is not 3D Slicer"


def test_ci_type_checks_and_lints_with_pinned_tools_after_the_tests():
    """A new mypy or ruff release adds checks; unpinned, CI could fail on a day nobody changed the code."""
    import tomllib

    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    test_extras = pyproject["project"]["optional-dependencies"]["test"]
    for tool in ("mypy", "ruff"):
        assert any(re.fullmatch(rf"{tool}==\d+(\.\d+)+", requirement) for requirement in test_extras), tool
    assert pyproject["tool"]["mypy"]["check_untyped_defs"] is True
    ci_lines = [line for line in (PROJECT_ROOT / ".ci" / "run").read_text().splitlines()
                if line and not line.startswith("#")]
    order = [next(i for i, line in enumerate(ci_lines) if marker in line)
             for marker in ("pytest", "-m mypy", "ruff check")]
    assert order == sorted(order), "CI runs the tests, then mypy, then ruff"
