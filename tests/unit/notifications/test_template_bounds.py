"""A template HR edits cannot make a worker build a huge number or string: every such
expression is refused as a template error (so the edit is refused with 422), while ordinary
arithmetic and formatting still render."""

from __future__ import annotations

import pytest
from jinja2 import TemplateError

from services.notifications.domain.templates import TemplateSource, render

COSTLY = [
    "{{ 9 ** (9 ** 9) }}",
    "{{ 2 ** 100000 }}",
    "{{ 'x' * 10**9 }}",
    "{{ [1] * 1000000 }}",
    "{{ 'x' | center(1000000000) }}",
    "{{ 'x' | indent(1000000000) }}",
    "{{ '%1000000000d' | format(1) }}",
    "{{ '%1000000000s' % 'x' }}",
    "{{ '{:>1000000000}'.format('x') }}",
]


@pytest.mark.parametrize("body", COSTLY)
def test_a_costly_expression_is_refused_before_it_runs(body: str) -> None:
    with pytest.raises(TemplateError):
        render(TemplateSource("s", body), {}, "en")


@pytest.mark.parametrize(("body", "text"), [
    ("{{ 2 ** 10 }}", "1024"), ("{{ '-' * 20 }}", "-" * 20),
    ("[{{ 'ok' | center(10) }}]", "[    ok    ]"), ("{{ '%05.1f' % 3.14159 }}", "003.1"),
    ("[{{ '{:>6}'.format('ok') }}]", "[    ok]"),
])
def test_ordinary_arithmetic_and_formatting_still_render(body: str, text: str) -> None:
    assert render(TemplateSource("s", body), {}, "en").text.rstrip("\n") == text
