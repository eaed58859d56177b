"""IExplainLib: pulmonary embolism detection and weakly supervised segmentation in CTPA (the iExplain method).

Pure Python: nothing here imports slicer, qt, ctk or vtk, so the same library serves the ``iexplain`` command, GPU
clusters and the 3D Slicer module (which runs it in a separate process).
"""

__version__ = "0.1.0"

from .errors import IExplainError, InputError, ModelFileError, OutputExistsError, UnsupportedInputError
from .volume import Volume

__all__ = ["__version__", "IExplainError", "InputError", "ModelFileError", "OutputExistsError",
           "UnsupportedInputError", "Volume"]
