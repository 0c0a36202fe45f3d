"""The one error of the emoji builder."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset cannot be built; the message is one line that names the fix."""
