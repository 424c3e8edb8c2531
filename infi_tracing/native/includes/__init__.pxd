# Cython declarations of the native core's C headers, one .pxd per header
# (it_X.pxd declares it_X.h), plus python.pxd (what Python.h offers beyond
# Cython's own cpython/*.pxd) and stdlib.pxi (the standard library, imported
# once for every included .pyx).  Cimport names from them one by one.
