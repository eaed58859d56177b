"""Stage 3: a MONAI DynUNet trained on iExplain pseudo-labels, finetuned on corrected cases, run by sliding window.

Modules: ``spec`` (what the network is, saved in the model card), ``preprocess`` (HU window and the network grid),
``data`` (cases from dataset folders), ``sampling`` (balanced patches), ``augment`` (Stage-1 augmentations without
Cutout, Mixup), ``train`` (resumable, DDP, AMP loop), ``finetune`` and ``inference`` (streamed sliding window).
Scoring segmenters (the Tables 4-5 analogue, ``segmenter-report``) is ``evaluation/segmenter_*``: nothing here
imports ``evaluation/``. Nothing here imports torch at package import time.
"""
