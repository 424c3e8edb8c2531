"""The seed's import name: ``from infi.tracing import *`` keeps working."""

from infi_tracing import *  # noqa: F403
from infi_tracing import __all__  # noqa: F401
