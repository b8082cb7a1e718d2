"""The shell walkthroughs of the docs, taken out of their Markdown to be run as written."""

from __future__ import annotations

import re
from pathlib import Path


def shell_block(document: Path) -> str:
    """The block between `<!-- walkthrough:begin -->` and its end, without the fences."""
    block = re.search(r"<!-- walkthrough:begin -->\s*```sh\n(.*?)```", document.read_text(),
                      re.S)
    assert block, f"{document.name} lost its walkthrough block"
    return block.group(1)
