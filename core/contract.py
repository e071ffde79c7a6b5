"""The classifier contract's small rules, shared by the prober and the stress scenarios.

Both must agree on where a target's probability sits in its answer and on what counts as a
probability; a target graded ok by the prober and failed by stress for the same answer would
be a bug in clfwatch, not in the target.
"""

from __future__ import annotations

import math
from typing import Any


class PointerError(LookupError):
    """A JSON pointer does not resolve in a document."""


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at RFC 6901 ``pointer`` in ``document``; ``""`` is the whole document.

    Raises PointerError naming the step that failed.
    """
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise PointerError("pointer must start with '/'")
    value = document
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict):
            if token not in value:
                raise PointerError(f"no member {token[:40]!r}")
            value = value[token]
        elif isinstance(value, list):
            if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
                raise PointerError("bad array index")
            index = int(token)
            if index >= len(value):
                raise PointerError("array index out of range")
            value = value[index]
        else:
            raise PointerError("pointer goes through a scalar")
    return value


def find_pointer(document: Any, pointer: str) -> Any:
    """Like ``resolve_pointer``, but None where the pointer does not resolve."""
    try:
        return resolve_pointer(document, pointer)
    except PointerError:
        return None


def valid_probability(value: Any) -> bool:
    """A real number in [0, 1]; booleans, NaN, infinities and strings are not probabilities."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 1.0
    )
