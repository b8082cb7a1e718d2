"""Results as JSON-ready primitives: Decimals as strings, enums as values, tuples as lists."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any


def to_dict(obj: Any) -> Any:
    """Any result of this package (or part of it) as plain JSON-ready data.

    Dataclass fields marked `metadata={"dump": False}` are left out (the scheme object a
    result points to, a part score's lines that the result already lists); a scheme has
    its own form, `scheme_to_dict`.
    """
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, Enum):
        return obj.value
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.metadata.get("dump", True)}
    if isinstance(obj, Mapping):
        return {(k.value if isinstance(k, Enum) else str(k)): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (frozenset, set)):
        return sorted(to_dict(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    raise TypeError(f"cannot make {type(obj).__name__} JSON-ready")
