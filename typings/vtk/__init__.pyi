# `import vtk`, typed. VTK's `vtk.py` is a single module, which cannot carry a py.typed marker, so mypy would see it
# as Any; the `vtkmodules` package it re-exports does ship typed stubs (slicer-core, in the test extras, installs
# VTK 9.6.2). These lines give mypy the names that `vtk.py` gives at run time, as far as the module uses them.
from vtkmodules.all import *
from vtkmodules.util.misc import calldata_type as calldata_type
from vtkmodules.util.vtkConstants import VTK_STRING as VTK_STRING
