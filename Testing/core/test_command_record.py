"""Both trainers write their command into the model card one way: every option spelled out, and the line parses back
to the very options that ran (positionals, repeated and comma-separated options included)."""

import shlex

import pytest

from IExplainLib.cli.commands_segmenter import _command_line as segmenter_command
from IExplainLib.cli.common import command_line
from IExplainLib.cli.main import build_parser

RECORDED_AS_RUN = [
    (["train-classifier", "data a", "more", "--out", "m.safetensors", "--window", "100,700", "--window", "40,400",
      "--crop", "64", "--hard-negatives", "--init", "first.safetensors", "--lr", "5e-4"], ("data",)),
    (["train-segmenter", "--images", "d", "--out", "s.safetensors", "--filters", "4,8,16", "--restart"], ()),
    (["finetune", "--from", "scratch", "--data", "corrected", "--out", "f.safetensors", "--like", "s.safetensors"],
     ()),
]


def _options(namespace) -> dict:
    return {k: v for k, v in vars(namespace).items() if k not in ("func", "progress", "resume")}


@pytest.mark.parametrize("argv,positional", RECORDED_AS_RUN, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_recorded_command_parses_back_to_the_options_that_ran(argv, positional):
    parser = build_parser()
    args = parser.parse_args([*argv, "--progress", "json", "--resume"])
    recorded = (segmenter_command(args) if args.command != "train-classifier"
                else command_line(args, positional=positional))
    words = shlex.split(recorded)
    assert words[:2] == ["iexplain", argv[0]]
    assert "--progress" not in words and "--resume" not in words  # how it reported and the no-op flag: not the run
    again = parser.parse_args(words[1:])
    assert _options(again) == _options(args)
    # defaults are written out too, so the card says what ran even when a later version changes a default
    assert ("--epochs" in words) if args.command == "train-classifier" else ("--iterations" in words)


def test_repeated_and_comma_options_keep_their_form():
    args = build_parser().parse_args(RECORDED_AS_RUN[0][0])
    words = shlex.split(command_line(args, positional=("data",)))
    assert words[2:4] == ["data a", "more"]
    window = [words[i + 1] for i, word in enumerate(words) if word == "--window"]
    assert window == ["100,700", "40,400"]
    tune = build_parser().parse_args(RECORDED_AS_RUN[1][0])
    words = shlex.split(segmenter_command(tune))
    assert words[words.index("--filters") + 1] == "4,8,16" and words[words.index("--patch-size") + 1] == "32,64,64"
