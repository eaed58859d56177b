"""Experiment 13: which HU rule centres a 128-px patch on the clot of a PE slice (prepared 256-px training cache in
/work/cache, truth points used only to score the rule). Prints, per rule (lumen share, clot HU low, high, max spot
pixels, neighbourhood), the share of patches holding a clot and of PE slices without candidates."""
import numpy as np, glob, sys
from scipy import ndimage
from IExplainLib.classifier.image_centres import hu_to_window_value
def cands(sl, share, lo, hi, maxpx, nb):
    v=sl.astype(np.float32); a=hu_to_window_value(lo,(100,700)); b=hu_to_window_value(hi,(100,700)); l=hu_to_window_value(180,(100,700))
    clot=(v>max(a,0.5))&(v<b); clot=ndimage.binary_opening(clot,np.ones((2,2),bool))
    if maxpx:
        lab,n=ndimage.label(clot); sizes=ndimage.sum(clot,lab,np.arange(1,n+1)); keep=np.zeros(n+1,bool); keep[1:]=sizes<=maxpx; clot=keep[lab]
    ls=ndimage.uniform_filter((v>=l).astype(np.float32),nb,mode='constant')
    return np.argwhere(clot&(ls>=share))
files=[f for f in sorted(glob.glob('/work/cache/*.npy')) if not f.endswith(('labels.npy','points.npy'))]
data=[]
for f in files:
    s=np.load(f,mmap_mode='r')
    if s.shape[1:]!=(1,256,256): continue
    b=f[:-4]; lab=np.load(b+'.labels.npy'); pts=np.load(b+'.points.npy')
    if pts.size==0: continue
    for z in np.flatnonzero(lab>0.5)[::3]:
        p=pts[pts[:,0]==z][:,1:]
        if len(p): data.append((np.asarray(s[z,0]),p, 'real' in f))
    if len(data)>400: break
print(len(data), sum(d[2] for d in data),'real')
rng=np.random.default_rng(0)
for cfg in [(0.2,-150,180,0,7),(0.4,-150,180,0,7),(0.5,-100,150,0,7),(0.3,-150,180,400,7),(0.3,-150,180,100,7),(0.5,-150,180,100,7),(0.2,-150,180,50,5),(0.6,-100,150,0,7),(0.5,-100,150,200,7),(0.4,-100,150,200,7),(0.5,-50,150,0,7)]:
    hits=[];none=0;dist=[]
    for sl,p,real in data:
        c=cands(sl,*cfg)
        if not len(c): none+=1; continue
        ce=c[rng.integers(len(c),size=8)]
        for centre in ce:
            y0,x0=np.clip(centre-64,0,128); hits.append(bool(((p[:,0]>=y0)&(p[:,0]<y0+128)&(p[:,1]>=x0)&(p[:,1]<x0+128)).any()))
        dist.append(np.sqrt(((c[:,None,:]-p[None])**2).sum(-1)).min(1).__lt__(6).mean())
    print(cfg,'holds clot %.3f'%np.mean(hits),'none %.2f'%(none/len(data)),'cand within 6px of truth %.3f'%np.mean(dist))
