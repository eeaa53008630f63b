"""The generated reference pages match the code that defines them (regenerate: python -m engine.docs)."""
from __future__ import annotations

import pytest

from engine.docs import COMMAND, REPO, pages

PAGES = pages()


@pytest.mark.parametrize("path", sorted(PAGES), ids=lambda p: str(p.relative_to(REPO)))
def test_page_is_current(path):
    assert path.is_file(), f"{path.relative_to(REPO)} missing: run {COMMAND}"
    assert path.read_text(encoding="utf-8") == PAGES[path], f"{path.relative_to(REPO)} is out of date: run {COMMAND}"
