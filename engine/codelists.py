"""Codelists in OpenCodelists' download format: ``code`` and ``term`` columns, optional ``system``.

Leading ``#`` lines name the source. A row without a system is SNOMED CT. Extra columns (e.g. a
category) are kept, so one file can carry a mapping such as ethnicity code → group.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from engine.codes import SNOMED, normalise_system
from engine.config import ConfigError, conf_dir


@dataclass(frozen=True)
class Codelist:
    name: str
    rows: tuple[dict, ...]
    source: str = ""
    path: str = ""
    extra_columns: tuple[str, ...] = field(default=())

    def pairs(self) -> set[tuple[str, str]]:
        """(system, code) pairs in the list."""
        return {(r["system"], r["code"]) for r in self.rows}

    def codes(self) -> list[str]:
        return [r["code"] for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)


def read_codelist(path: str | Path, name: str | None = None) -> Codelist:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"codelist file not found: {path}")
    comments, body = [], []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for line in fh:
            if line.startswith("#"):
                comments.append(line.lstrip("#").strip())
            elif line.strip():
                body.append(line)
    reader = csv.DictReader(body)
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    code_col = next((f for f in ("code", "dmd_id", "snomedcode") if f in fields), None)
    if code_col is None:
        raise ConfigError(f"codelist {path.name} has no 'code' column (columns: {', '.join(fields)})")
    rows = []
    for raw in reader:
        r = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        code = r.get(code_col, "")
        if not code:
            continue
        r["code"] = code
        r["term"] = r.get("term") or r.get("dmd_name") or ""
        r["system"] = normalise_system(r.get("system") or SNOMED)
        rows.append(r)
    extra = tuple(f for f in fields if f not in ("code", "term", "system"))
    return Codelist(name or path.stem, tuple(rows), " ".join(comments), str(path), extra)


def load_codelist(name: str, directory: str | Path | None = None) -> Codelist:
    """Load ``conf/codelists/<name>.csv`` (or from ``directory``)."""
    base = Path(directory) if directory else conf_dir() / "codelists"
    return read_codelist(base / f"{name}.csv", name)
