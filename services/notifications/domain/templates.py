"""Rendering, validating and previewing notice templates (Jinja2, sandboxed, strict).

Every render sees the notice's facts and, for each coded fact, its words in the notice's
language: `{{ grade }}` is `not_competent`, `{{ grade_label }}` is 不称职 or "not competent"
(`shared.labels.with_labels`). Templates print the `_label`, never the code.

Templates may be edited by HR, so they run in Jinja's `SandboxedEnvironment` (no attribute
access to Python internals) with `StrictUndefined` (a misspelt variable is an error, never a
blank). An override is validated before it is stored, by rendering it against the sample
context of its kind; at send time an override that still fails falls back to the built-in
template rather than leaving the notice unsent.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any

from jinja2 import (
    FunctionLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from services.notifications.domain.default_templates import DEFAULT_TEMPLATES
from services.notifications.domain.notices import (
    FALLBACK_LANGUAGE,
    SUPPORTED_LANGUAGES,
    Notice,
    NoticeKind,
    normalise_language,
    variables_for,
)
from services.notifications.domain.samples import sample_context
from shared.labels import with_labels

FIELDS = ("subject", "body", "html")
MISSING = "—"
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class TemplateSource:
    """The sources of one kind+language: a subject line, a text body, optionally HTML."""

    subject: str
    body: str
    html: str | None = None


@dataclass(frozen=True)
class RenderedMessage:
    """What a channel sends. `fallback_reason` says why the built-in template was used."""

    subject: str
    text: str
    html: str | None
    language: str
    fallback_reason: str | None = None


class TemplateInvalid(ValueError):
    """A template was refused; names the field ('subject', 'body', 'html') and the line."""

    def __init__(self, field: str, line: int | None, message: str) -> None:
        where = f"{field}, line {line}" if line else field
        super().__init__(f"{where}: {message}")
        self.field = field
        self.line = line
        self.message = message


TemplateLookup = Callable[[NoticeKind, str], TemplateSource | None]


def _finalize(value: Any) -> Any:
    return MISSING if value is None else value


#: The most characters any one operation of a template may produce. A notice is a few
#: hundred characters; an HR-edited template must not make a worker build gigabytes.
MAX_PRODUCED = 100_000
#: The widest field a format or a padding filter may ask for.
MAX_WIDTH = 1_000
_WIDTHS = re.compile(r"%[-+ #0]*(\d*)(?:\.(\d+))?[a-zA-Z%]"
                     r"|\{[^{}]*?:[^{}]*?(\d+)(?:\.(\d+))?[a-zA-Z%]?\}")


def _check_widths(fmt: object) -> None:
    if isinstance(fmt, str):
        for groups in _WIDTHS.findall(fmt):
            if any(g and int(g) > MAX_WIDTH for g in groups):
                raise SecurityError(f"a format width above {MAX_WIDTH} is not allowed")


def _check_width(width: object) -> None:
    if isinstance(width, int) and not isinstance(width, bool) and abs(width) > MAX_WIDTH:
        raise SecurityError(f"a width above {MAX_WIDTH} is not allowed")


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, with bounds on what one expression may cost.

    The sandbox stops attribute escapes but not `{{ 9**9**9 }}` or `{{ "x" * 10**9 }}`:
    powers, repetition, `%` formatting and the padding filters are checked before they run
    (intercepted operators are never folded at compile time either).
    """

    intercepted_binops = frozenset({"**", "*", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(left, int | float) and isinstance(right, int | float):
            size = abs(left) if isinstance(left, int) else 2
            if abs(right) > 64 or (abs(right) > 1 and int(size).bit_length() * abs(right) > 4096):
                raise SecurityError("this power is too large for a template")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) \
                        and len(seq) * times > MAX_PRODUCED:
                    raise SecurityError("this repetition is too long for a template")
        if operator == "%":
            _check_widths(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_widths(value.__self__)  # "{:>1000000000}".format(...)
        return wrapped


def _bounded_filter(name: str, env: SandboxedEnvironment) -> None:
    original = env.filters[name]

    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        for width in (*args[:1], kwargs.get("width")):
            _check_width(width)
        if name == "format":
            _check_widths(value)
        return original(value, *args, **kwargs)

    env.filters[name] = bounded


def _environment(html: bool) -> SandboxedEnvironment:
    env = BoundedSandbox(
        undefined=StrictUndefined, autoescape=html, lstrip_blocks=True, finalize=_finalize,
    )
    for name in ("center", "indent", "wordwrap", "truncate", "format"):
        _bounded_filter(name, env)
    return env


_TEXT_ENV = _environment(html=False)
_HTML_ENV = _environment(html=True)


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Template:
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


def default_source(kind: NoticeKind | str, language: str) -> TemplateSource:
    """The built-in template of a kind in a language (unknown language -> the fallback)."""
    subject, body = DEFAULT_TEMPLATES[(NoticeKind(kind), normalise_language(language))]
    return TemplateSource(subject=subject, body=body)


def _one_line(text: str) -> str:
    # A subject is a header: newlines would break it (or inject headers).
    return " ".join(text.split())


def render(source: TemplateSource, context: Mapping[str, Any], language: str,
           portal_url: str | None = None) -> RenderedMessage:
    """Render one template source, with the words for its coded facts in `language` and,
    given the portal's address, the link to the page that acts on it; raises jinja2 errors
    as they come."""
    context = with_labels(context, language)
    path = context.get("action_path")
    context["action_url"] = (portal_url.rstrip("/") + str(path)
                             if portal_url and isinstance(path, str) and path else None)
    subject = _one_line(_compiled(source.subject, False).render(context))
    # Optional lines left empty by `{% if %}` would otherwise pile up blank lines.
    body = _compiled(source.body, False).render(context)
    text = _BLANK_LINES.sub("\n\n", body).strip() + "\n"
    html = _compiled(source.html, True).render(context) if source.html else None
    return RenderedMessage(subject=subject, text=text, html=html, language=language)


def _lookup(overrides: TemplateLookup | Mapping[tuple[str, str], TemplateSource] | None,
            kind: NoticeKind, language: str) -> TemplateSource | None:
    if overrides is None:
        return None
    if callable(overrides):
        return overrides(kind, language)
    return overrides.get((kind.value, language)) or overrides.get((kind, language))


def render_notice(
    notice: Notice,
    overrides: TemplateLookup | Mapping[tuple[str, str], TemplateSource] | None = None,
    portal_url: str | None = None,
) -> RenderedMessage:
    """The message of a notice in its recipient's language.

    An override for (kind, language) wins; otherwise the built-in template of that language.
    An override that fails to render is reported in `fallback_reason` and replaced by the
    built-in one: a bad template must not stop a notice.
    """
    language = normalise_language(notice.language)
    source = _lookup(overrides, notice.kind, language)
    if source is not None:
        try:
            return render(source, notice.context, language, portal_url)
        except TemplateError as exc:
            rendered = render(default_source(notice.kind, language), notice.context, language,
                              portal_url)
            return RenderedMessage(rendered.subject, rendered.text, rendered.html, language,
                                   fallback_reason=f"override failed: {exc}")
    return render(default_source(notice.kind, language), notice.context, language, portal_url)


def _template_line(tb: TracebackType | None, name: str) -> int | None:
    """The template line of a render error: Jinja rewrites frames to the template's lines."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _first_use(ast: nodes.Template, name: str) -> int | None:
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == name and n.ctx == "load"]
    return min(lines) if lines else None


def _check_field(kind: NoticeKind, field: str, source: str, context: Mapping[str, Any]) -> str:
    env = _environment(html=field == "html")
    try:
        ast = env.parse(source, name=field, filename=field)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(field, exc.lineno, f"syntax error: {exc.message}") from None
    known = set(variables_for(kind)) | set(env.globals)
    unknown = meta.find_undeclared_variables(ast) - known
    if unknown:
        name = min(unknown, key=lambda n: (_first_use(ast, n) or 0, n))
        raise TemplateInvalid(
            field, _first_use(ast, name),
            f"unknown variable {name!r}; {kind.value} offers: {', '.join(variables_for(kind))}",
        )
    # A loader that names the file after the field, so Jinja's rewritten traceback frames
    # carry the field's own line numbers.
    env.loader = FunctionLoader(lambda _name: (source, field, lambda: True))
    try:
        return env.get_template(field).render(context)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None) or _template_line(sys.exc_info()[2], field)
        raise TemplateInvalid(field, line, f"cannot render: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        line = _template_line(sys.exc_info()[2], field)
        raise TemplateInvalid(field, line, f"cannot render: {type(exc).__name__}: {exc}"
                              ) from None


def validate_template(kind: NoticeKind | str, subject_src: str, body_src: str,
                      html_src: str | None = None) -> None:
    """Refuse a template that does not parse, names a variable its kind lacks, or fails to
    render against the kind's sample context. Raises `TemplateInvalid(field, line, message)`.
    """
    kind = NoticeKind(kind)
    context = with_labels(sample_context(kind), FALLBACK_LANGUAGE)
    for field, source in (("subject", subject_src), ("body", body_src), ("html", html_src)):
        if source is None:
            continue
        rendered = _check_field(kind, field, source, context)
        if field != "html" and not rendered.strip():
            raise TemplateInvalid(field, None, "renders to nothing")


def preview(kind: NoticeKind | str, language: str, sources: TemplateSource | None = None,
            context: Mapping[str, Any] | None = None) -> RenderedMessage:
    """Render the given sources (or the built-in ones) against a context (or the sample).

    Sources are validated first, so a preview of a broken template raises `TemplateInvalid`.
    A given context is laid over the sample one, so a partial context still renders.
    """
    kind = NoticeKind(kind)
    language = normalise_language(language)
    if sources is not None:
        validate_template(kind, sources.subject, sources.body, sources.html)
    full = {**sample_context(kind), **(context or {})}
    return render(sources or default_source(kind, language), full, language)


def all_default_sources() -> dict[tuple[NoticeKind, str], TemplateSource]:
    """Every built-in template: a kind in each supported language."""
    return {(kind, lang): default_source(kind, lang)
            for kind in NoticeKind for lang in SUPPORTED_LANGUAGES}
