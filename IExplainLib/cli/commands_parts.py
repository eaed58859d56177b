"""``iexplain join-parts``: join and check the model parts a lent GPU machine brought back
(:mod:`IExplainLib.model_parts`)."""

from __future__ import annotations

import argparse

from .common import add_overwrite


def register(subparsers) -> None:
    join = subparsers.add_parser(
        "join-parts", help="join split result parts (NAME.part01, ...) and check every part and file by sha256",
        description="Check every part a manifest (NAME.parts.json, written by benchmarks/device/run.sh) names, join "
                    "them, unpack the files into a folder and check each against the manifest. A missing or corrupt "
                    "part is refused in one line; existing files are kept unless --overwrite.")
    join.add_argument("manifest", help="the parts manifest, e.g. models.parts.json (the parts lie beside it)")
    join.add_argument("-o", "--out", required=True, help="folder for the unpacked files")
    add_overwrite(join)
    join.set_defaults(func=run_join_parts)


def run_join_parts(args: argparse.Namespace) -> int:
    from ..model_parts import join_parts

    for path in join_parts(args.manifest, args.out, overwrite=args.overwrite):
        print(f"{path}  {path.stat().st_size:,} bytes, sha256 checked")
    return 0
