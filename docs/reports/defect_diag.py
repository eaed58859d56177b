import sys, numpy as np
from IExplainLib.phantoms import make_study
from IExplainLib.phantoms.real_anatomy import analyse_anatomy, load_anatomy, make_real_anatomy_study
from IExplainLib.chest_region import chest_region
from IExplainLib.finding_filters import core_features, is_defect
size = int(sys.argv[1]); n = int(sys.argv[2]); nreal = int(sys.argv[3])
studies = [make_study(8000 + i, slices=48, size=size) for i in range(n)]
if nreal:
    an = analyse_anatomy(load_anatomy("/work/shared/data/real-ct/popi_4dct_phase00_chest_ct"))
    studies += [make_real_anatomy_study(an, 8100 + i, slices=48) for i in range(nreal)]
tp_rows, fp_rows, found, total = [], [], 0, 0
for st in studies:
    hu = st.volume.array.astype(np.float32); truth = st.truth
    region = chest_region(hu, st.volume.spacing)
    cores, rows = core_features(region, hu, st.volume.spacing)
    hit_truth = set()
    for r in rows:
        m = cores == r["label"]
        t = truth[m]; share = np.mean(t > 0)
        r["truth_share"] = share
        (tp_rows if share >= 0.1 else fp_rows).append(r)
        if is_defect(r) and share >= 0.1: hit_truth |= set(np.unique(t[t > 0]).tolist())
    k = len(np.unique(truth[truth > 0])); total += k; found += len(hit_truth)
    npass = sum(is_defect(r) and r["truth_share"] < 0.1 for r in rows)
    print(st.seed, st.kind if hasattr(st,'kind') else '', "emboli", k, "found", len(hit_truth), "FP cores passing", npass, "cores", len(rows))
def summ(rows, name):
    a = np.array([[r["mm3"], r["lumen_share"], r["bone_share"]] for r in rows]) if rows else np.zeros((0,3))
    print(name, len(rows), "mm3 pct", np.percentile(a[:,0],[10,50,90]).round(1) if len(a) else None, "lumen pct", np.percentile(a[:,1],[10,50,90]).round(2) if len(a) else None)
summ(tp_rows, "TP cores"); summ([r for r in fp_rows if r["mm3"]>=8], "FP cores>=8mm3")
print("sensitivity of the defect detector alone", found, "/", total)
