"""``python -m galip_studio.datasets.emoji OUT_DIR [options]``."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
