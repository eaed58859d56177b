"""Synthetic CTPA phantoms with exact pulmonary-embolism ground truth, and writers for the real data layouts.

``make_study`` draws a whole chest (body wall, lungs, heart, great vessels, 3D pulmonary arterial and venous trees)
with emboli as filling defects; ``make_real_anatomy_study`` inserts contrast and clots into a real chest CT;
``write_dataset`` writes studies in the RSPECT layout (DICOM + train.csv + boxes) or the dataset.json NIfTI layout.
"""

from .study import SyntheticStudy, make_study

__all__ = ["SyntheticStudy", "make_study", "make_real_anatomy_study", "write_dataset", "write_preview"]


def __getattr__(name):
    # Lazy: the writers and the real-anatomy path pull in more (pydicom, SimpleITK, matplotlib, skimage).
    if name == "make_real_anatomy_study":
        from .real_anatomy import make_real_anatomy_study
        return make_real_anatomy_study
    if name == "write_dataset":
        from .dataset_writer import write_dataset
        return write_dataset
    if name == "write_preview":
        from .preview import write_preview
        return write_preview
    raise AttributeError(name)
