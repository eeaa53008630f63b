"""What is in an input folder: which files are data, which layout they form, which are ignored.

Only file *names* are looked at here (never contents), so this is cheap and safe on any folder.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import ConfigError

FORMATS = ("fhir-ndjson", "fhir-bundles", "gp-extract")
EXTRACT_TABLES = ("practices", "patients", "events", "medications", "referrals", "encounters")

_NDJSON = re.compile(r"\.ndjson(\.gz)?$", re.I)
_JSON = re.compile(r"\.json(\.gz)?$", re.I)
_CSV = re.compile(r"\.csv(\.gz)?$", re.I)
_PARQUET = re.compile(r"\.parquet$", re.I)
# JSON files that are metadata, never FHIR data (an npm FHIR package's package.json, the synthetic
# generator's generator.json summary).
_NOT_DATA_JSON = {"package.json", ".index.json", "package-lock.json", "generator.json"}


@dataclass
class Inventory:
    root: Path
    ndjson: list[Path] = field(default_factory=list)
    json: list[Path] = field(default_factory=list)
    extract: dict[str, list[Path]] = field(default_factory=dict)   # table -> files
    extract_kind: str | None = None                                 # "csv" | "parquet"
    ignored: list[Path] = field(default_factory=list)

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def _visible_files(root: Path) -> list[Path]:
    out = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).parts
        if any(part.startswith((".", "_")) for part in rel):
            continue   # hidden files, Spark/Hadoop side files (_SUCCESS, .crc)
        if p.is_file():
            out.append(p)
    return out


def _extract_table(path: Path, root: Path) -> tuple[str, str] | None:
    """(table, kind) when the file belongs to a GP-extract table: ``events.csv``,
    ``events.parquet`` (a file or a Spark folder of part files) or ``events/part-*.parquet``."""
    name = path.name.lower()
    for table in EXTRACT_TABLES:
        if _CSV.search(name) and _CSV.sub("", name) == table:
            return table, "csv"
        if _PARQUET.search(name) and _PARQUET.sub("", name) == table:
            return table, "parquet"
    if _PARQUET.search(name) or name.endswith(".snappy.parquet"):
        for parent in path.relative_to(root).parts[:-1]:
            stem = _PARQUET.sub("", parent.lower())
            if stem in EXTRACT_TABLES:
                return stem, "parquet"
    return None


def inventory(path: str | Path) -> Inventory:
    root = Path(path)
    if not root.exists():
        raise ConfigError(f"input folder not found: {root}")
    if root.is_file():
        files, root = [root], root.parent
    else:
        files = _visible_files(root)
    inv = Inventory(root=root)
    for f in files:
        table = _extract_table(f, root)
        if table:
            inv.extract.setdefault(table[0], []).append(f)
            kinds = {inv.extract_kind, table[1]} - {None}
            inv.extract_kind = table[1] if len(kinds) == 1 else "mixed"
        elif _NDJSON.search(f.name):
            inv.ndjson.append(f)
        elif _JSON.search(f.name) and f.name.lower() not in _NOT_DATA_JSON:
            inv.json.append(f)
        else:
            inv.ignored.append(f)
    return inv


def detect_format(path: str | Path) -> str:
    """``fhir-ndjson``, ``fhir-bundles`` or ``gp-extract`` from the file names in a folder."""
    return _detect(inventory(path))


def _detect(inv: Inventory) -> str:
    if "patients" in inv.extract:
        if inv.extract_kind == "mixed":
            raise ConfigError(f"{inv.root}: GP extract mixes CSV and Parquet tables; use one or the other")
        return "gp-extract"
    if inv.ndjson:
        return "fhir-ndjson"
    if inv.json:
        return "fhir-bundles"
    if inv.extract:
        raise ConfigError(f"{inv.root}: looks like a GP extract but has no patients table "
                          "(patients.csv or patients.parquet)")
    what = "is empty" if not inv.ignored else f"has no .ndjson, .json or GP-extract files ({len(inv.ignored)} other files)"
    raise ConfigError(f"input folder {inv.root} {what}")
