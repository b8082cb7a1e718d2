"""Which scheme applies to a manager: the most specific match, versions by year."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from services.appraisal.domain.errors import SchemeConflict, SchemeNotFound
from services.appraisal.domain.scheme import Scheme

Key = tuple[int | None, str | None, str | None]


def _specificity(key: Key) -> tuple[int, bool, bool, bool]:
    """More fields set wins; on a tie position beats category beats layer."""
    layer, category, position = key
    return (sum(v is not None for v in key), position is not None, category is not None,
            layer is not None)


class SchemeBook:
    """All schemes of a group, every version, and the rule that picks one for a manager.

    Each scheme code owns one (layer, category, position) key; its versions share it. For
    a manager the most specific matching key wins (see `_specificity`), falling back to the
    group default (all wildcards); within a code the highest version whose
    `valid_from_year` is not after the appraisal year applies (no year: the latest).
    """

    def __init__(self, schemes: Iterable[Scheme] = ()) -> None:
        self._by_code: dict[str, dict[int, Scheme]] = {}
        self._code_by_key: dict[Key, str] = {}
        self._cache: dict[tuple[int | None, str | None, str | None, int | None], Scheme] = {}
        for scheme in schemes:
            self.add(scheme)

    def add(self, scheme: Scheme) -> None:
        versions = self._by_code.get(scheme.code)
        if versions:
            known = versions.get(scheme.version)
            if known is not None:
                if known == scheme:
                    return
                raise SchemeConflict(
                    f"Scheme {scheme.code} v{scheme.version} exists with other rules: "
                    "a change is a new version",
                    errors={"version": [f"v{scheme.version} is taken"]})
            first = next(iter(versions.values()))
            if first.key != scheme.key:
                raise SchemeConflict(
                    f"Scheme {scheme.code} applies to {first.key}; a version cannot move it "
                    f"to {scheme.key}", errors={"layer": ["differs from earlier versions"]})
        else:
            owner = self._code_by_key.get(scheme.key)
            if owner is not None:
                raise SchemeConflict(
                    f"Scheme {owner} already applies to layer/category/position {scheme.key}",
                    errors={"code": [f"{owner} already covers this layer/category/position"]})
            self._code_by_key[scheme.key] = scheme.code
        self._by_code.setdefault(scheme.code, {})[scheme.version] = scheme
        self._cache.clear()

    def get(self, code: str, version: int | None = None) -> Scheme:
        """A scheme by code and version (None: the latest), e.g. to re-score an appraisal."""
        versions = self._by_code.get(code)
        if not versions:
            raise SchemeNotFound(f"No scheme {code!r}", errors={"code": ["unknown scheme"]})
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise SchemeNotFound(f"Scheme {code!r} has no version {version}",
                                 errors={"version": [f"known: {sorted(versions)}"]})
        return versions[version]

    def versions(self, code: str) -> tuple[int, ...]:
        return tuple(sorted(self._by_code.get(code, {})))

    def __iter__(self) -> Iterator[Scheme]:
        for code in sorted(self._by_code):
            versions = self._by_code[code]
            for version in sorted(versions):
                yield versions[version]

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_code.values())

    def resolve(self, layer: int | None, category: str | None, position: str | None = None,
                *, year: int | None = None) -> tuple[Scheme, int]:
        """The scheme for a manager, and its version (which the appraisal records)."""
        cache_key = (layer, category, position, year)
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit, hit.version
        candidates = sorted(
            (key for key in self._code_by_key
             if (key[0] is None or key[0] == layer) and (key[1] is None or key[1] == category)
             and (key[2] is None or key[2] == position)),
            key=_specificity, reverse=True)
        for key in candidates:
            versions = self._by_code[self._code_by_key[key]]
            usable = [v for v, s in versions.items()
                      if year is None or s.valid_from_year is None or s.valid_from_year <= year]
            if usable:
                scheme = versions[max(usable)]
                self._cache[cache_key] = scheme
                return scheme, scheme.version
        raise SchemeNotFound(
            f"No scheme applies to layer {layer}, category {category}, position {position}"
            + (f" in {year}" if year is not None else "") + " and there is no group default",
            errors={"scheme": ["no matching scheme and no group default"]})
