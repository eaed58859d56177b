"""Fig. 4 of the paper as a PNG: metrics per cumulative iteration (left), iterations needed per study (right)."""

from __future__ import annotations

from pathlib import Path

from ..outputs import atomic_output


def _percent(values):
    return [float("nan") if v is None else 100.0 * v for v in values]


def plot_ablation(summary: dict, path: str | Path, overwrite: bool = False, title: str = "") -> Path:
    """Write the two-panel figure with matplotlib's Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    curves = summary["fig4"]["curves"]
    histogram = summary["fig4"]["histogram"]
    ks = [row["k"] for row in curves]
    figure = Figure(figsize=(11, 4.2), dpi=110)
    left, right = figure.subplots(1, 2)
    for key, colour in (("f1", "tab:blue"), ("sensitivity", "tab:green"), ("ppv", "tab:red")):
        left.plot(ks, _percent([row["filtered"][key] for row in curves]), "-o", color=colour,
                  label=f"{key.upper() if key != 'sensitivity' else 'Sensitivity'} (filtered)")
        left.plot(ks, _percent([row["unfiltered"][key] for row in curves]), "--", color=colour, alpha=0.55,
                  label=f"{key.upper() if key != 'sensitivity' else 'Sensitivity'} (unfiltered)")
    best = summary["best_iteration"]
    left.axvline(best, color="grey", linestyle=":", linewidth=1)
    left.set_xlabel("iterations (cumulative union 1..k)")
    left.set_ylabel("finding level (%)")
    left.set_xticks(ks)
    left.set_ylim(0, 100)
    left.set_title(f"Metrics per iteration (best k = {best})")
    left.legend(fontsize=7, loc="lower right", ncol=2)
    total = max(1, sum(histogram["studies"]))
    right.bar(histogram["iterations"], [100.0 * n / total for n in histogram["studies"]], color="tab:blue")
    right.set_xticks(histogram["iterations"])
    right.set_xlabel("iterations needed")
    right.set_ylabel(f"studies (%, n = {sum(histogram['studies'])})")
    right.set_title("Refinement iterations per study")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    with atomic_output(path, overwrite) as temporary:
        figure.savefig(temporary, format="png")
    return Path(path)
