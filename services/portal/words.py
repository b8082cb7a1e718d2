"""Codes as words on the page, in the person's language (the label table lives in shared/)."""

from __future__ import annotations

from services.portal.people import language

GRADE_ORDER: tuple[str, ...] = ("excellent", "good", "competent", "basically_competent",
                                "not_competent")


def label(kind: str, code: object) -> str:
    """The word for a code (a grade, a position, a state ...) in the page's language."""
    if code is None or code == "":
        return ""
    try:
        from shared.labels import label as shared_label
    except ImportError:  # pragma: no cover - the table arrives with shared.labels
        return str(code).replace("_", " ")
    return shared_label(kind, str(code), language())


def labels_of(kind: str) -> dict[str, str]:
    """Every code of a kind with its word, for a filter's options."""
    try:
        from shared.labels import codes
    except ImportError:  # pragma: no cover
        return {g: g.replace("_", " ") for g in GRADE_ORDER} if kind == "grade" else {}
    return {c: label(kind, c) for c in codes(kind)}
