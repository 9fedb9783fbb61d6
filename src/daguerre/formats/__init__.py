"""Streaming disk-image format inspection and safety ("our rule").

Use :class:`Inspector` while the bytes flow to the store, then :func:`judge`
the :class:`Verdict` against the claimed disk_format.
"""

from .inspector import Inspector, inspect_file, judge
from .model import CHECK_NAMES, FormatRefused, SafetyFailure, SafetyPolicy, Verdict
from .stream import MAX_RETAINED

__all__ = [
    "CHECK_NAMES",
    "FormatRefused",
    "Inspector",
    "MAX_RETAINED",
    "SafetyFailure",
    "SafetyPolicy",
    "Verdict",
    "inspect_file",
    "judge",
]
