"""The ``galip-studio`` command line.

:mod:`.root` is the root command (its parser and ``main``); :mod:`.common` the plumbing that the
command groups share; one module per group: :mod:`.generate` (generate, info, init, convert),
:mod:`.latent` (interpolate, blend, walk, render), :mod:`.discover` (directions, map),
:mod:`.invert`, :mod:`.serve` (the app), :mod:`.miniclip` (train-clip, eval-clip) and :mod:`.data`;
``train`` and ``eval`` live with the trainer, in :mod:`galip_studio.train.cli`. The groups import only
:mod:`.common`, never the root.

``main`` and ``build_parser`` are the root's, loaded on first use, so that ``galip_studio.cli:main``
(the installed ``galip-studio`` script) keeps working and importing a group loads no other group.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_parser", "main"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import root

        return getattr(root, name)
    raise AttributeError(f"module 'galip_studio.cli' has no attribute {name!r}")
