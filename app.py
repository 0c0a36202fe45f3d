"""GALIP Studio: ``python app.py`` opens the latent-space explorer at http://127.0.0.1:7860.

Options are those of ``galip-studio serve`` (``python app.py --help``).
"""

import sys

from galip_studio.cli.serve import main

if __name__ == "__main__":
    sys.exit(main())
