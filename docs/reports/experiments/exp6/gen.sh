cd /work/main; export OMP_NUM_THREADS=1
.venv/bin/iexplain synth /work/data/train-384c --studies 80 --seed 3000 --size 384 --slices 48 --layout nifti --progress quiet
.venv/bin/iexplain synth /work/data/train-384d --studies 80 --seed 3080 --size 384 --slices 48 --layout nifti --progress quiet
.venv/bin/iexplain synth /work/data/train-real2 --studies 40 --seed 3500 --slices 48 --layout nifti --anatomy /work/shared/data/real-ct/popi_4dct_phase00_chest_ct --progress quiet
echo gen done
