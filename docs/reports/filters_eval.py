"""Stage-2 filter comparison on tuning phantoms: paper filter vs chest location vs chest + defect check (inside the
cluster, and with a 3 / 6 mm search around it).
usage: python filters_eval.py CLASSIFIER N_PHANTOMS SIZE N_REAL [h]"""
import sys, time, json
import numpy as np
from IExplainLib.evaluation.explainer_runs import explain_for_ablation
from IExplainLib.explain import IExplainer
from IExplainLib.evaluation.study_sets import PhantomSetSpec, phantom_studies
from IExplainLib.evaluation.finding_metrics import truth_instances, FindingCounts
from IExplainLib.findings import label_findings
from IExplainLib.finding_filters import keep_findings
from IExplainLib.explain.presets import PRESETS; DEMO_SPEEDUP = PRESETS["fast"]

def strict_counts(pred, tl, tc, share=0.10):
    pl, pc = label_findings(pred)
    tp_truth = set(); fp = 0
    for k in range(1, pc + 1):
        m = pl == k
        hit = tl[m]; frac = np.mean(hit > 0)
        if frac >= share:
            tp_truth |= set(np.unique(hit[hit > 0]).tolist())
        else:
            fp += 1
    return FindingCounts(len(tp_truth), fp, tc - len(tp_truth))

def inter_counts(pred, tl, tc):
    pl, pc = label_findings(pred)
    ov = (pl > 0) & (tl > 0)
    mp = np.unique(pl[ov]).size; mt = np.unique(tl[ov]).size
    return FindingCounts(mt, pc - mp, tc - mt)

clf, n, size, nreal = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
over = dict(DEMO_SPEEDUP)
if len(sys.argv) > 5: over["high_threshold"] = float(sys.argv[5])
ex = IExplainer(clf, device="cpu", overrides=over)
spec = PhantomSetSpec(n, 8000, 48, size, "/work/shared/data/real-ct/popi_4dct_phase00_chest_ct" if nreal else None, nreal)
# every setting spelled out: the classifier card may turn the CT filters on for its own runs
configs = {"none": dict(filter=False), "paper": dict(location_filter="centre", defect_check=False),
           "chest": dict(location_filter="chest", defect_check=False),
           "chest+defect": dict(location_filter="chest", defect_check=True, defect_search_mm=0.0),
           "paper+defect": dict(location_filter="centre", defect_check=True, defect_search_mm=0.0),
           "chest+defect@3mm": dict(location_filter="chest", defect_check=True, defect_search_mm=3.0),
           "chest+defect@6mm": dict(location_filter="chest", defect_check=True, defect_search_mm=6.0),
           "paper+defect@3mm": dict(location_filter="centre", defect_check=True, defect_search_mm=3.0)}
tot = {k: [FindingCounts(), FindingCounts(), 0, 0] for k in configs}
t0 = time.time()
for st in phantom_studies(spec):
    r = explain_for_ablation(ex, st.volume)
    tl, tc = truth_instances(st.truth)
    pred_all = r.unfiltered > 0
    for name, cfg in configs.items():
        p = ex.params.replace(**cfg)
        kept = keep_findings(pred_all, p, st.volume) if p.filter else pred_all
        a = inter_counts(kept, tl, tc); b = strict_counts(kept, tl, tc)
        inter = (kept & (tl > 0)).sum(); tot[name][2] += inter; tot[name][3] += kept.sum() + (tl > 0).sum()
        tot[name][0] = tot[name][0] + a; tot[name][1] = tot[name][1] + b
    print(st.case_id, "iters", r.iterations, "truth", tc, {k: (tot[k][0].tp, tot[k][0].fp) for k in configs}, f"{time.time()-t0:.0f}s", flush=True)
out = {}
for name, (a, b, i, s) in tot.items():
    out[name] = {"intersection": a.as_dict(), "strict": b.as_dict(), "dice": 2 * i / max(s, 1)}
    print(f"{name:14s} inter TP/FP/FN {a.tp}/{a.fp}/{a.fn} F1 {a.f1 or 0:.3f} | strict {b.tp}/{b.fp}/{b.fn} F1 {b.f1 or 0:.3f} | dice {2*i/max(s,1):.3f}")
json.dump(out, open(sys.argv[6] if len(sys.argv) > 6 else "/tmp/filters_eval.json", "w"), indent=1)
