"""Every word the portal's pages and views say has its Chinese, and the compiled catalogue
the app loads is the one the .po file describes."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

PORTAL = Path(__file__).resolve().parents[3] / "services" / "portal"
CATALOGUE = PORTAL / "translations" / "zh" / "LC_MESSAGES"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def _said() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(PORTAL), METHODS, keywords={"_": None, "gettext": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_of_the_portal_has_chinese() -> None:
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"))
    missing = sorted(m for m in _said() if not (catalogue.get(m) and catalogue.get(m).string))
    assert missing == []


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    catalogue = read_po((CATALOGUE / "messages.po").open("rb"))
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    assert compiled.getvalue() == (CATALOGUE / "messages.mo").read_bytes()
