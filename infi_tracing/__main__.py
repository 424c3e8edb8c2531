"""``python -m infi_tracing``: see infi_tracing._cli."""

import sys

from infi_tracing._cli import main

if __name__ == "__main__":
    sys.exit(main())
