"""``iexplain``: one entry point, one sub-command per pipeline step.

Each ``commands_*.py`` module registers its sub-commands with ``register(subparsers)``; heavy libraries (torch,
MONAI) are imported inside the command functions so that ``iexplain --help`` answers at once.
Errors the user can fix (:class:`IExplainError`) print one line and exit 2; anything else is a bug: one line too,
and the traceback with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import IExplainError

COMMAND_MODULES = (
    "commands_io",          # info, convert
    "commands_synth",       # synth
    "commands_classifier",  # train-classifier
    "commands_explain",     # detect, pseudo-label
    "commands_evaluation",  # evaluate, tune-threshold, ablation
    "commands_segmenter",   # train-segmenter, finetune, segmenter-report
    "commands_demo",        # demo, bench
    "commands_quality",     # quality
    "commands_reproduce",   # reproduce
    "commands_candidates",  # train-reducer
    "commands_parts",       # join-parts
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iexplain",
        description="Pulmonary embolism detection and weakly supervised segmentation in CTPA (iExplain).")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"iexplain {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}").register(subparsers)
    return parser


def _version() -> str:
    from .. import __version__
    return __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
        return int(result or 0)
    except IExplainError as error:
        if args.debug:
            raise
        print(f"iexplain {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"iexplain {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug: keep it to one line unless --debug
        if args.debug:
            raise
        print(f"iexplain {args.command}: internal error: {type(error).__name__}: {error} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
