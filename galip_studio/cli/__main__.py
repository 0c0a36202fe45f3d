"""``python -m galip_studio.cli``: the ``galip-studio`` command (also under ``torchrun -m``)."""

import sys

from .root import main

if __name__ == "__main__":
    sys.exit(main())
