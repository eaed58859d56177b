"""Experiment 11: training speed of timm CNNs (one thread, batch 32 of 7 x 128 x 128, forward + backward + AdamW).
Usage: OMP_NUM_THREADS=1 python speed.py NAME..."""
import time, torch, timm, sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[4]))
import IExplainLib.classifier.timm_models  # noqa: F401  (registers the iexplain variants)
torch.set_num_threads(1)
names = sys.argv[1:]
x = torch.rand(32, 7, 128, 128); y = torch.rand(32, 1)
for n in names:
    try:
        m = timm.create_model(n, pretrained=False, in_chans=7, num_classes=1, global_pool="max")
    except Exception as e:
        print(n, "ERR", e); continue
    p = sum(t.numel() for t in m.parameters())
    opt = torch.optim.AdamW(m.parameters(), 1e-3); m.train()
    for i in range(5):
        if i == 2: t = time.process_time()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(m(x), y); opt.zero_grad(); loss.backward(); opt.step()
    dt = (time.process_time() - t) / 3
    print(f"{n:32s} params {p/1e6:5.2f} M  {dt:5.2f} cpu-s/step  {32/dt:6.1f} samples/cpu-s", flush=True)
