"""The native fast paths (``_hashcore.c``), or None.

Built by setup.py when a C compiler and OpenSSL's headers are there; otherwise only the Python code runs. Each
native function answers exactly as the Python code it stands in for, or declines (None / NotImplemented) and the
Python code answers: tests/test_hashcore.py and tests/test_proof_walks.py compare the two.
"""

from __future__ import annotations

from typing import Any


def _load() -> Any:
    try:
        from . import _hashcore
    except ImportError:
        return None
    return _hashcore


NATIVE: Any = _load()
