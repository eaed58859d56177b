# `vtk.util` (an alias of vtkmodules.util at run time): only its submodules are used
