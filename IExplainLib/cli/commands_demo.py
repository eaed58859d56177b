"""``iexplain demo`` (the embedded default: a phantom study end to end) and ``iexplain bench`` (hot-path figures)."""

from __future__ import annotations

import json

from .common import add_device, add_overwrite, add_progress, progress_from

BENCHMARKS = ("phantoms", "attribution", "segmenter", "detect-cpu-preset", "detect-candidates")


def register(subparsers) -> None:
    demo = subparsers.add_parser(
        "demo", help="make a phantom CTPA, run the bundled models end to end, write results and metrics",
        description="Makes a synthetic CTPA study with known emboli, runs iExplain (bundled demo classifier) and the "
                    "bundled demo segmenter on it, and writes the segmentations (.seg.nrrd), the heat map, a PNG "
                    "overview and finding-level metrics against the phantom's truth.")
    demo.add_argument("--out", default="iexplain-demo", help="output folder (default: ./iexplain-demo)")
    demo.add_argument("--seed", type=int, default=9001, help="phantom seed (held out from all training seeds)")
    demo.add_argument("--slices", type=int, default=48, help="slices of the phantom study")
    demo.add_argument("--size", type=int, default=256, help="in-plane size of the phantom study")
    add_device(demo)
    add_overwrite(demo)
    add_progress(demo)
    demo.set_defaults(func=run_demo)

    bench = subparsers.add_parser(
        "bench", help="speed figures of the hot paths, as ratios against the straightforward reference",
        description="Times the hot paths (phantom generation, the batched attribution engine against the plain "
                    "Captum loop, segmenter inference on a long study, detect with the fast attribution preset on a "
                    "512x512x300 study on 2 CPU threads with its peak memory) in one run and prints figures and "
                    "ratios.")
    bench.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these benchmarks")
    bench.add_argument("--quick", action="store_true", help="small sizes (a smoke run, not the reported figures)")
    bench.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    bench.add_argument("--device", default="cpu",
                       help="device of the attribution and segmenter benchmarks (cpu, cuda, cuda:N; on CUDA the "
                            "attribution one times the paper's settings); the others time CPU work")
    add_overwrite(bench)
    bench.set_defaults(func=run_bench)


def run_demo(args) -> int:
    from ..demo import run_demo as demo

    summary = demo(args.out, seed=args.seed, slices=args.slices, size=args.size, device=args.device,
                   overwrite=args.overwrite, progress=progress_from(args))
    print(summary)
    return 0


def run_bench(args) -> int:
    import importlib

    from ..outputs import check_can_write, write_text_atomic

    if args.json_out:
        check_can_write(args.json_out, args.overwrite)
    results = {}
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"IExplainLib.benchmarks.{name.replace('-', '_')}")
        print(f"== {name}", flush=True)
        results[name] = module.run(quick=args.quick,
                                   **({"device": args.device} if name in ("attribution", "segmenter") else {}))
        for key, value in results[name].items():
            print(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}", flush=True)
    if args.json_out:
        write_text_atomic(args.json_out, json.dumps(results, indent=2) + "\n", overwrite=args.overwrite)
    return 0
