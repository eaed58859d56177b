from vtkmodules.util.numpy_support import *
