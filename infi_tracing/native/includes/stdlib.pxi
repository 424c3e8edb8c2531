# The standard-library modules the included .pyx files use, imported once
# for the whole module (they share one namespace): included first by _core.pyx.
import dis as _dis
import errno as _errno
import os as _os
import sys as _sys
import threading as _threading
import warnings as _warnings
from weakref import ref as _weakref_ref
