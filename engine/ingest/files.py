"""What is in an input folder: which files are data, which layout they form, which are ignored.

Only file *names* (and sizes) are looked at here, so this is cheap and safe on any folder. The one
file ever opened is a ``manifest.json``, to tell a casefind output (``"engine": "casefind"``) from a
FHIR bulk-export manifest: a casefind output given as the input is refused, one found in a subfolder
is never descended into (its canonical record and quarantine would be read as a GP extract and as
data twice over), and a bulk-export manifest is metadata, listed as ignored.
"""
from __future__ import annotations

import json
import os
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
# generator's generator.json summary, a bulk export's manifest.json or a casefind run's manifest).
_NOT_DATA_JSON = {"package.json", ".index.json", "package-lock.json", "generator.json", "manifest.json"}
# A casefind manifest is a few hundred kB at most; a larger manifest.json is someone else's.
_MANIFEST_MAX_BYTES = 50 * 1024 * 1024
# Folders a casefind run writes beside its manifest.json.
_CASEFIND_FOLDERS = ("canonical", "quarantine")


@dataclass
class Inventory:
    root: Path
    ndjson: list[Path] = field(default_factory=list)
    json: list[Path] = field(default_factory=list)
    extract: dict[str, list[Path]] = field(default_factory=dict)   # table -> files
    extract_kind: str | None = None                                 # "csv" | "parquet"
    ignored: list[Path] = field(default_factory=list)                # files, and casefind output folders
    empty: list[Path] = field(default_factory=list)                  # zero-byte data files (nothing to read)

    def rel(self, path: Path) -> str:
        try:
            rel = str(path.relative_to(self.root))
        except ValueError:
            rel = str(path)
        return rel + "/" if path.is_dir() else rel


def is_casefind_output(folder: Path) -> bool:
    """True when ``folder`` holds the manifest.json a casefind run or ingest writes."""
    manifest = folder / "manifest.json"
    try:
        if not manifest.is_file() or manifest.stat().st_size > _MANIFEST_MAX_BYTES:
            return False
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("engine") == "casefind"


def _written_by_casefind(folder: Path) -> bool:
    """``folder`` is a casefind output, or its canonical/ or quarantine/ folder."""
    return is_casefind_output(folder) or (folder.name in _CASEFIND_FOLDERS and is_casefind_output(folder.parent))


def _visible_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(files, casefind output folders found below ``root``, not entered)."""
    files, skipped = [], []
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            real = os.path.realpath(here / d)
            if d.startswith((".", "_")) or real in seen:
                continue   # hidden folders, Spark/Hadoop side folders (_temporary), a symlink loop
            seen.add(real)
            if _written_by_casefind(here / d):
                skipped.append(here / d)
            else:
                keep.append(d)
        dirnames[:] = keep
        files += [here / f for f in filenames if not f.startswith((".", "_"))]   # .crc, _SUCCESS
    return sorted(p for p in files if p.is_file()), sorted(skipped)


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
        files, skipped, root = [root], [], root.parent
    else:
        if _written_by_casefind(root):
            raise ConfigError(f"{root} is a casefind output folder, not an input (its manifest.json was written "
                              "by casefind); give the folder that holds the FHIR or GP-extract files")
        files, skipped = _visible_files(root)
    inv = Inventory(root=root, ignored=list(skipped))
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
            continue
        if f.stat().st_size == 0:
            inv.empty.append(f)
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
