"""Candidate-first detection: filling defects found from the CT (no training), then a false-positive reducer
trained from slice labels only rejects the look-alikes (veins, mixing artefacts, partial-volume rims, lymph nodes).

* ``proposals``: candidate defects and what describes each (calibre class, volume, contrast, position, features);
* ``patches``: candidate-centred orthogonal-plane patches;
* ``reducer``: the reducer networks (``features-mlp`` baseline, ``rings-mlp``, ``patch-cnn``);
* ``rings``: the ring around each candidate in its patches (the ``rings-mlp``'s extra columns);
* ``training_data`` and ``mil``: training studies (CT + slice labels) and multiple-instance training;
* ``train``: a reducer model file with its card; ``detector``: :class:`CandidateDetector` for ``detect``.
"""

from .detector import CandidateDetector, load_reducer
from .proposals import CALIBRES, Candidate, CandidateSet, find_candidates

__all__ = ["CandidateDetector", "load_reducer", "find_candidates", "Candidate", "CandidateSet", "CALIBRES"]
