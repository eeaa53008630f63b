"""Codelists in OpenCodelists' download format: ``code`` and ``term`` columns, optional ``system``.

Leading ``#`` lines name the source. A row without a system is SNOMED CT. Extra columns (e.g. a
category) are kept, so one file can carry a mapping such as ethnicity code → group.

Also here: the provenance each file's header gives (``parse_header``, ``codelist_info``, read by
``casefind codelists``) and the checks that a code is a well-formed identifier of its system
(SNOMED CT by the Verhoeff check digit and the id form, LOINC by its mod-10 check digit, RxNorm).
"""
from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.codes import LOINC, RXNORM, SNOMED, normalise_system
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


# -- provenance: what each list's header says it was taken from ----------------------------------
#
# A list taken from a published codelist names it in machine-readable header lines:
#
#   # Source: opensafely/zostavax-dementia codelists/nhsd-primary-care-domain-refsets-hyp_cod.csv @ 74ff6ecc...
#   # Version: nhsd-primary-care-domain-refsets/hyp_cod/20250912
#   # Published rows: 117; kept beyond the published list: 0
#
# (one Source line per published list, each followed by its Version line). A list with no published
# counterpart says so, and where its codes come from, on a line starting "# No published counterpart:".

_SOURCE = re.compile(r"^source:\s*(.*)$", re.I)
_SOURCE_REF = re.compile(r"([\w.-]+/[\w.-]+)\s+(\S+)\s*@\s*([0-9a-f]{7,40})\b", re.I)
_VERSION = re.compile(r"^version:\s*(.+)$", re.I)
_NONE_PUBLISHED = re.compile(r"^\s*(none published|none|no published (list|counterpart))\b[\s;:,.-]*", re.I)
_NO_COUNTERPART = re.compile(r"^no published counterpart\b:?\s*(.*)$", re.I)
_PUBLISHED = re.compile(r"^published rows:\s*(\d+)", re.I)
_KEPT = re.compile(r"kept beyond the published lists?:\s*(\d+)", re.I)


@dataclass(frozen=True)
class SourceRef:
    """One published list a codelist was taken from: repository, path in it, commit, list version."""
    repository: str
    path: str
    commit: str
    version: str = ""

    def short(self) -> str:
        return f"{self.repository}/{self.path}@{self.commit[:7]}"


@dataclass(frozen=True)
class CodelistInfo:
    """What ``casefind codelists`` reports for one file."""
    name: str
    path: str
    sources: tuple[SourceRef, ...]
    no_counterpart: str          # the "No published counterpart:" text, "" when sources are named
    published_rows: int | None
    kept_rows: int | None
    rows: int
    systems: tuple[str, ...]     # short names (snomedct, loinc, rxnorm) or the system URI
    sha256: str

    def as_dict(self) -> dict:
        return {"name": self.name, "path": self.path,
                "sources": [asdict(s) for s in self.sources], "no_counterpart": self.no_counterpart,
                "published_rows": self.published_rows, "kept_rows": self.kept_rows, "rows": self.rows,
                "systems": list(self.systems), "sha256": self.sha256}


def header_lines(path: str | Path) -> list[str]:
    """The leading ``#`` lines of a codelist file, without the ``#`` and surrounding blanks."""
    out = []
    with Path(path).open(encoding="utf-8-sig") as fh:
        for line in fh:
            if not line.startswith("#"):
                if line.strip():
                    break
                continue
            out.append(line.lstrip("#").strip())
    return out


def parse_header(lines: list[str]) -> dict:
    """sources (SourceRef, each with its version), no_counterpart, published_rows, kept_rows.

    A Version line names the version of the Source line(s) before it that have none yet; several
    versions on one line are separated by ";" (text in parentheses is a note, not a version).
    "Source: none published; <where the codes come from>" is read as a no-counterpart line too.
    """
    sources: list[SourceRef] = []
    no_counterpart, published, kept = "", None, None
    for line in lines:
        m = _SOURCE.match(line)
        if m:
            refs = _SOURCE_REF.findall(m.group(1))
            if refs:
                sources += [SourceRef(*ref) for ref in refs]
            elif _NONE_PUBLISHED.match(m.group(1)):
                no_counterpart = _NONE_PUBLISHED.sub("", m.group(1)).strip() or "none published"
            continue
        m = _VERSION.match(line)
        if m:
            versions = [v.split()[0].rstrip(",") for v in re.sub(r"\([^)]*\)", "", m.group(1)).split(";")
                        if v.strip()]
            todo = [i for i, s in enumerate(sources) if not s.version]
            for i, v in zip(todo[-len(versions):] if len(versions) < len(todo) else todo, versions):
                s = sources[i]
                sources[i] = SourceRef(s.repository, s.path, s.commit, v)
            continue
        m = _NO_COUNTERPART.match(line)
        if m:
            no_counterpart = m.group(1).strip() or "yes"
        m = _PUBLISHED.match(line)
        if m:
            published = int(m.group(1))
        m = _KEPT.search(line)
        if m:
            kept = int(m.group(1))
    return {"sources": tuple(sources), "no_counterpart": no_counterpart, "published_rows": published,
            "kept_rows": kept}


# NHS Data Dictionary ETHNIC CATEGORY letter codes (UK Core EthnicCategory), used by ethnicity.csv.
UK_ETHNIC_CATEGORY = "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategory"
_SHORT_SYSTEM = {SNOMED: "snomedct", LOINC: "loinc", RXNORM: "rxnorm", UK_ETHNIC_CATEGORY: "uk-ethnic-category"}


def codelist_info(path: str | Path, name: str | None = None) -> CodelistInfo:
    path = Path(path)
    cl = read_codelist(path, name)
    head = parse_header(header_lines(path))
    systems = tuple(sorted({_SHORT_SYSTEM.get(r["system"], r["system"]) for r in cl.rows}))
    return CodelistInfo(cl.name, str(path), head["sources"], head["no_counterpart"], head["published_rows"],
                        head["kept_rows"], len(cl), systems, hashlib.sha256(path.read_bytes()).hexdigest())


def codelist_infos(directory: str | Path | None = None) -> list[CodelistInfo]:
    """One CodelistInfo per ``*.csv`` in ``directory`` (default conf/codelists), by name."""
    base = Path(directory) if directory else conf_dir() / "codelists"
    if not base.is_dir():
        raise ConfigError(f"codelist folder not found: {base}")
    return [codelist_info(p) for p in sorted(base.glob("*.csv"))]


# -- code validity ---------------------------------------------------------------------------------
#
# Verhoeff's dihedral-group check digit, as SNOMED CT uses it (also for UK dm+d ids, which are
# SNOMED CT ids). _D is the multiplication table of the dihedral group D5 and _P[i] the position
# permutation applied to the digit i places from the right (the base permutation composed i times);
# a number carries a valid check digit when the product over its digits is the identity, 0.

def _d5_table() -> list[list[int]]:
    # elements 0-4 are the rotations r^k, 5-9 the reflections s.r^k
    def mul(a: int, b: int) -> int:
        if a < 5:
            return (a + b) % 5 if b < 5 else 5 + (a + b - 5) % 5
        return 5 + (a - 5 - b) % 5 if b < 5 else (a - b) % 5
    return [[mul(a, b) for b in range(10)] for a in range(10)]


_D = _d5_table()


def _permutations() -> list[list[int]]:
    base = [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]
    out = [list(range(10))]
    while len(out) < 8:
        out.append([base[x] for x in out[-1]])
    return out


_P = _permutations()


def verhoeff_ok(digits: str) -> bool:
    """True when the last digit is the Verhoeff check digit of the ones before it."""
    if not digits.isdigit() or not digits.isascii():
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


# Partition identifiers (2nd and 3rd digit from the right) of a concept id: 00 in the international
# release (no namespace), 10 in an extension (a 7-digit namespace before it, e.g. UK 1000000).
CONCEPT_PARTITIONS = ("00", "10")


def snomed_ok(code: str) -> bool:
    """A SNOMED CT concept id: 6-18 digits, no leading zero, concept partition, Verhoeff check digit."""
    if not (code.isascii() and code.isdigit() and 6 <= len(code) <= 18) or code[0] == "0":
        return False
    partition = code[-3:-1]
    if partition not in CONCEPT_PARTITIONS:
        return False
    if partition == "10" and len(code) < 11:      # item id, 7-digit namespace, partition, check digit
        return False
    return verhoeff_ok(code)


def loinc_ok(code: str) -> bool:
    """A LOINC code NNNN-C: 1-7 digits, hyphen, the mod-10 check digit of those digits."""
    m = re.fullmatch(r"(\d{1,7})-(\d)", code)
    if not m:
        return False
    body, check = m.group(1), int(m.group(2))
    total = 0
    for i, ch in enumerate(reversed(body)):   # double every other digit from the rightmost
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return (10 - total % 10) % 10 == check


def rxnorm_ok(code: str) -> bool:
    """An RxNorm concept id (RXCUI): a positive integer of at most 8 digits."""
    return code.isascii() and code.isdigit() and len(code) <= 8 and code[0] != "0"


_ETHNIC_CATEGORY_CODES = frozenset("ABCDEFGHJKLMNPRSZ")

_CHECKS = {SNOMED: snomed_ok, LOINC: loinc_ok, RXNORM: rxnorm_ok,
           UK_ETHNIC_CATEGORY: lambda code: code in _ETHNIC_CATEGORY_CODES}


def code_ok(system: str, code: str) -> bool:
    """Is ``code`` a well-formed identifier in ``system``? Unknown systems are never valid."""
    check = _CHECKS.get(normalise_system(system))
    return bool(check and check(code))


def invalid_codes(cl: Codelist) -> list[tuple[str, str]]:
    """(system, code) of each row whose code is not a valid identifier for its system."""
    return [(r["system"], r["code"]) for r in cl.rows if not code_ok(r["system"], r["code"])]
