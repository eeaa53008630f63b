"""The generated reference pages match the code that defines them (regenerate: python tests/render_docs.py)."""
from __future__ import annotations

import pytest

from render_docs import REPO, pages

PAGES = pages()


@pytest.mark.parametrize("path", sorted(PAGES), ids=lambda p: str(p.relative_to(REPO)))
def test_page_is_current(path):
    assert path.is_file(), f"{path.relative_to(REPO)} missing: run python tests/render_docs.py"
    assert path.read_text(encoding="utf-8") == PAGES[path], \
        f"{path.relative_to(REPO)} is out of date: run python tests/render_docs.py"
