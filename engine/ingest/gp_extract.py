"""GP extract tables (CSV or Parquet; layout in the README, "GP extract") → canonical rows.

CSV files are read as RFC 4180: a quoted field may hold commas, doubled quotes, CR and LF; lines may
end in LF or CRLF; a UTF-8 byte-order mark is dropped; ``.csv.gz`` is read the same way. Each file is
parsed by Python's ``csv`` module in one Spark task (``mapInArrow``, whole Arrow batches, no per-row
UDF); every cell is a string, an empty cell is null, blank lines are ignored. Parquet is read as
written and cast to strings. Then every table goes through the same typed casts and row checks.

Quarantine reasons (fixed strings): ``wrong number of fields`` (a CSV record with more or fewer
fields than its header: never padded or cut), ``unreadable CSV record`` (quoting that is not
RFC 4180, e.g. ``"ab"c``, a bare CR outside quotes, a quote never closed, a field over 128 KB; the
record's first line is quarantined and reading resumes on the next line; a ``.gz`` whose data ends
early or is corrupt keeps the rows before that and adds one such row naming just the file), then
``no patient id``, ``unknown patient``, ``no code``, ``no date``, ``bad date`` (anything but
``YYYY[-MM[-DD]]``, so ``31/03/2025`` or a Parquet integer ``20250331`` is never guessed),
``bad number``, ``bad value``, ``unknown status`` (an events row whose status is outside the table
below), ``no practice id``.

Event status. The canonical ``events.status`` is active / resolved / refuted / entered-in-error.
An extract's status cell is read trimmed and case-insensitively:

============================================  ====================================================
status cell                                   canonical status
============================================  ====================================================
empty                                         active
``active``, ``final``, ``amended``,           active (FHIR Observation statuses for a valid result)
``corrected``
``resolved``, ``inactive``, ``remission``     resolved (FHIR Condition clinical statuses)
``refuted``                                   refuted
``entered-in-error``                          entered-in-error
anything else (``preliminary``, ``unknown``)  quarantined: ``unknown status`` (never guessed, and
                                              never kept as a value every rule would ignore)
============================================  ====================================================

Where a row came from: ``source_file`` is ``<file>:<line>`` for CSV, e.g. ``events.csv:17`` — the
file relative to the input folder and the 1-based physical line (LF-counted, header = line 1) on which
the record starts, as ``sed -n 17p events.csv`` or an editor shows it; for Parquet it is the file.
Quarantined rows carry the row as JSON in ``record`` (for ``wrong number of fields``
``{"fields": [...]}``, for ``unreadable CSV record`` ``{"error": ..., "text": <first line>}``).
"read" in the report counts CSV records, so a record with a quoted newline counts once.

Stops with a one-line ConfigError (no cell values in it): a missing required column (table, file,
column); a header that differs between two files of one table (both files named); a header with
no comma but a ``;``, tab or ``|`` (casefind reads comma-separated files only: such exports
usually also write decimal commas, so guessing the delimiter would misread numbers); bare-CR
(classic Mac) line endings; a ``.gz`` that is not gzip or is unreadable within its first 64 KB; a
Parquet column the engine uses that is a struct, list or map, or a file that is not Parquet. A column
the engine does not use is ignored and named in a WARNING (table, file, column name; no values).
"""
from __future__ import annotations

import csv
import functools
import gzip
import io
import itertools
import json
import logging
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine import schema
from engine.config import ConfigError
from engine.fhir_conventions import ENCOUNTER_CLASS
from engine.ingest import columns as C
from engine.ingest.files import EXTRACT_TABLES, Inventory

log = logging.getLogger(__name__)

COLUMNS = {
    "practices": ("practice_id", "practice_name", "pcn_id", "pcn_name"),
    "patients": ("patient_id", "nhs_number", "given_name", "family_name", "birth_date", "sex", "death_date",
                 "lsoa_code", "practice_id", "registration_start", "registration_end", "care_home"),
    "events": ("event_id", "patient_id", "date", "system", "code", "display", "value", "unit", "kind", "status"),
    "medications": ("issue_id", "patient_id", "date", "end_date", "system", "code", "display", "status", "quantity"),
    "referrals": ("referral_id", "patient_id", "date", "system", "code", "display", "priority", "status",
                  "outcome_date"),
    "encounters": ("encounter_id", "patient_id", "start", "end", "class", "system", "code"),
}
REQUIRED = {
    "practices": ("practice_id",), "patients": ("patient_id",),
    "events": ("patient_id", "date", "code"), "medications": ("patient_id", "date", "code"),
    "referrals": ("patient_id", "date", "code"), "encounters": ("patient_id", "start"),
}
CANONICAL_CLASSES = ("inpatient", "emergency", "ambulatory", "virtual", "home", "other")
# An events status cell (lower-cased, trimmed) → canonical events.status (module docstring); an
# empty cell is active, any other value is quarantined as UNKNOWN_STATUS.
EVENT_STATUS = {
    "active": "active", "final": "active", "amended": "active", "corrected": "active",
    "resolved": "resolved", "inactive": "resolved", "remission": "resolved",
    "refuted": "refuted", "entered-in-error": "entered-in-error",
}
UNKNOWN_STATUS = "unknown status"

# Columns every raw table carries besides its data columns: the file, the line a CSV record starts
# on, and, for a record that could not be split into fields, the reason and the record as JSON.
META = (("source_file", T.StringType()), ("_line", T.LongType()), ("_error", T.StringType()),
        ("_raw", T.StringType()))
HEADER_SCAN = 1 << 16     # the header line must end within the first 64 KB of a file
BATCH_ROWS = 20_000       # rows per Arrow batch handed back to Spark
OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


# --- CSV -----------------------------------------------------------------------------------------

def _open_text(path: str | Path):
    # newline="\n": lines split on LF only, so a CR inside a quoted field stays in the field and line
    # numbers match what sed or an editor shows; CRLF still ends a record (the csv module eats the CR).
    # errors="replace": a stray non-UTF-8 byte becomes U+FFFD in that cell (as Spark's reader does)
    # rather than stopping the run.
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="\n")


def _csv_records(open_lines: Callable[[], IO[str]]) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line the record starts on, its fields, None) per CSV record of the text ``open_lines()`` opens;
    blank lines are skipped.

    A record the csv module rejects under strict RFC 4180 quoting gives (line, None, error as JSON
    with the record's first line) and parsing resumes on the line after that first line: a quote
    never closed then costs one line, not the rest of the file.
    """
    done = 0    # physical lines consumed by finished records
    with open_lines() as fh:
        reader = csv.reader(fh, strict=True)
        try:
            for fields in reader:
                start, done = done + 1, reader.line_num
                if fields:
                    yield start, fields, None
            return
        except csv.Error:
            pass
    # The lines of the failing record are gone: read up to it again, then go on keeping each record's
    # lines (slower, so only once a file has shown a bad record).
    with open_lines() as fh:
        src = iter(fh)
        deque(itertools.islice(src, done), maxlen=0)
        yield from _csv_records_resync(src, done)


def _csv_records_resync(src: Iterator[str], done: int) -> Iterator[tuple[int, list[str] | None, str | None]]:
    pending: deque[str] = deque()   # lines already read that must be parsed again after a resync
    buf: list[str] = []             # the lines of the record being parsed

    def feed() -> Iterator[str]:
        while pending:
            s = pending.popleft()
            buf.append(s)
            yield s
        for s in src:
            buf.append(s)
            yield s

    while True:
        reader = csv.reader(feed(), strict=True)
        base = done
        try:
            for fields in reader:
                start, done = done + 1, base + reader.line_num
                buf.clear()
                if fields:
                    yield start, fields, None
            return
        except csv.Error as e:
            start = done + 1
            first, rest = buf[0], buf[1:]
            buf.clear()
            pending.extendleft(reversed(rest))
            done = start
            yield start, None, json.dumps({"error": str(e), "text": first}, ensure_ascii=False)


def _csv_header(path: Path, table: str, rel: str) -> list[str]:
    """The stripped column names on the first line of a CSV file; ConfigError when unusable.

    At most 64 KB is read, so a file with no LF in it is not pulled into memory whole.
    """
    where = f"GP extract {table}: {rel}"
    try:
        with _open_text(path) as fh:
            first_line = fh.readline(HEADER_SCAN)
    except gzip.BadGzipFile:
        raise ConfigError(f"{where} is named .gz but is not gzip-compressed") from None
    except (OSError, EOFError, zlib.error):
        raise ConfigError(f"{where} cannot be read (truncated or corrupt compressed data)") from None
    if "\r" in first_line.rstrip("\n").rstrip("\r"):
        raise ConfigError(f"{where} has bare CR (classic Mac) line endings; casefind expects LF or CRLF "
                          "line endings (RFC 4180)")
    if len(first_line) >= HEADER_SCAN and not first_line.endswith("\n"):
        raise ConfigError(f"{where}: no end of the header line in the first 64 KB")
    rec = next(_csv_records(lambda: io.StringIO(first_line, newline="\n")), None)
    if rec is None or rec[1] is None or not any(c.strip() for c in rec[1]):
        raise ConfigError(f"{where} has no readable header line")
    header = [c.strip() for c in rec[1]]
    if len(header) == 1:
        for d, name in OTHER_DELIMITERS.items():
            if d in header[0]:
                raise ConfigError(f"{where} looks {name}-separated (its header line has '{d}' and no comma); "
                                  "casefind expects comma-separated files (RFC 4180)")
    return header


def _column_positions(table: str, header: list[str], rel: str) -> dict[str, int]:
    """canonical column → position in ``header`` (names matched case-insensitively)."""
    pos: dict[str, int] = {}
    for i, name in enumerate(header):
        key = name.lower()
        if key in COLUMNS[table]:
            if key in pos:
                raise ConfigError(f"GP extract {table}: {rel} has column '{key}' twice")
            pos[key] = i
    missing = [c for c in REQUIRED[table] if c not in pos]
    if missing:
        raise ConfigError(f"GP extract {table}: {rel} has no column {', '.join(repr(c) for c in missing)} "
                          f"(required: {', '.join(REQUIRED[table])})")
    return pos


def _same_header(table: str, files: list[tuple[str, list[str]]]) -> list[str]:
    """The header every file of a table shares; ConfigError naming two files that differ."""
    first_rel, first = files[0]
    for rel, header in files[1:]:
        a, b = [c.lower() for c in first], [c.lower() for c in header]
        if a == b:
            continue
        only_a = [c for c in a if c not in b]
        only_b = [c for c in b if c not in a]
        detail = "; ".join(x for x in (
            f"only in {first_rel}: {', '.join(only_a)}" if only_a else "",
            f"only in {rel}: {', '.join(only_b)}" if only_b else "") if x) or "same columns, another order"
        raise ConfigError(f"GP extract {table}: {rel} and {first_rel} have different header lines ({detail}); "
                          "every file of one table needs the same columns in the same order")
    return first


def _warn_unused(table: str, rels: list[str], names: list[str]) -> None:
    rel = rels[0] if len(rels) == 1 else f"{rels[0]} (and {len(rels) - 1} more file(s))"
    unused = [n or f"(unnamed column {i + 1})" for i, n in enumerate(names) if n.lower() not in COLUMNS[table]]
    if unused:
        # column names only, after the required columns were found: a header, not a data row
        log.warning("GP extract %s: %s has column(s) the engine does not use: %s", table, rel, ", ".join(unused))


def _blank_to_null(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, pa.string()), a)


def _parse_csv_file(path: str, rel: str, positions: list[int], width: int,
                    arrow_schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    good_lines: list[int] = []
    good: list[list[str]] = []
    bad: list[tuple[int | None, str, str]] = []
    n_data = len(positions)

    def flush() -> Iterator[pa.RecordBatch]:
        if good:
            nulls = pa.nulls(len(good), pa.string())
            # one list<string> array, then a column per field, is far cheaper than transposing in Python
            rows = pa.array(good, pa.list_(pa.string()))
            yield pa.RecordBatch.from_arrays(
                [pa.array([rel] * len(good), pa.string()), pa.array(good_lines, pa.int64()), nulls, nulls,
                 *[_blank_to_null(pc.list_element(rows, i)) for i in positions]], schema=arrow_schema)
        if bad:
            lines, reasons, raws = zip(*bad)
            yield pa.RecordBatch.from_arrays(
                [pa.array([rel] * len(bad), pa.string()), pa.array(lines, pa.int64()), pa.array(reasons, pa.string()),
                 pa.array(raws, pa.string()), *[pa.nulls(len(bad), pa.string())] * n_data], schema=arrow_schema)
        good.clear()
        good_lines.clear()
        bad.clear()

    records = _csv_records(lambda: _open_text(path))
    line = 1
    try:
        next(records, None)     # the header (checked on the driver)
        for line, fields, err in records:
            if fields is None:
                bad.append((line, C.BAD_CSV_RECORD, err))
            elif len(fields) != width:
                bad.append((line, C.WRONG_FIELD_COUNT, json.dumps({"fields": fields}, ensure_ascii=False)))
            else:
                good_lines.append(line)
                good.append(fields)
                if len(good) >= BATCH_ROWS:
                    yield from flush()
    except (OSError, EOFError, zlib.error):
        # A truncated or corrupt .gz: keep what was read and quarantine one row for the file (no line:
        # the problem is the file's) so the report shows it; failing the task would hide which file.
        bad.append((None, C.BAD_CSV_RECORD, json.dumps(
            {"error": f"compressed data truncated or corrupt after the record on line {line}; "
                      "the rest of the file was not read"})))
    yield from flush()


def _parse_csv_files(batches: Iterator[pa.RecordBatch], positions: list[int], width: int,
                     arrow_schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for b in batches:
        for path, rel in zip(b.column("path").to_pylist(), b.column("file").to_pylist()):
            yield from _parse_csv_file(path, rel, positions, width, arrow_schema)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _read_csv(spark: SparkSession, table: str, files: list[Path], root: Path) -> DataFrame:
    rels = [_rel(p, root) for p in files]
    headers = []
    for p, rel in zip(files, rels):
        h = _csv_header(p, table, rel)
        _column_positions(table, h, rel)
        headers.append((rel, h))
    header = _same_header(table, headers)
    pos = _column_positions(table, header, rels[0])
    _warn_unused(table, rels, header)
    present = [c for c in COLUMNS[table] if c in pos]
    out = T.StructType([T.StructField(n, t) for n, t in META] + [T.StructField(c, T.StringType()) for c in present])
    arrow_schema = pa.schema([(n, pa.int64() if isinstance(t, T.LongType) else pa.string()) for n, t in META]
                             + [(c, pa.string()) for c in present])
    # One partition per file, made by the RDD API: a repartition() would let adaptive execution
    # fold the few rows back into one task and parse every file in turn.
    listing = spark.sparkContext.parallelize([(str(p.resolve()), rel) for p, rel in zip(files, rels)], len(files))
    names = spark.createDataFrame(listing, "path string, file string")
    parse = functools.partial(_parse_csv_files, positions=[pos[c] for c in present], width=len(header),
                              arrow_schema=arrow_schema)
    df = names.mapInArrow(parse, out)
    return df.select(*[n for n, _ in META], *[F.col(c) if c in pos else F.lit(None).cast("string").alias(c)
                                              for c in COLUMNS[table]])


# --- Parquet -------------------------------------------------------------------------------------

def _read_parquet(spark: SparkSession, table: str, files: list[Path], root: Path) -> DataFrame:
    import pyarrow.parquet as pq

    # Files are grouped by their exact schema and each group read on its own: one Spark read over
    # files that store a column with different types fails late with an unhelpful message.
    groups: dict[tuple, list[Path]] = {}
    headers = []
    for p in files:
        rel = _rel(p, root)
        try:
            sch = pq.read_schema(p)
        except (pa.ArrowException, OSError) as e:
            raise ConfigError(f"GP extract {table}: {rel} is not a readable Parquet file ({e})") from None
        names = [f.name.strip() for f in sch]
        pos = _column_positions(table, names, rel)
        for f in sch:
            key = f.name.strip().lower()
            if key in pos and pa.types.is_nested(f.type):
                raise ConfigError(f"GP extract {table}: column '{key}' in {rel} is {f.type}, not a plain value "
                                  "(a struct, list or map cannot be read as a cell)")
        headers.append((rel, names))
        groups.setdefault(tuple((f.name, str(f.type)) for f in sch), []).append(p)
    header = _same_header(table, headers)
    _warn_unused(table, [r for r, _ in headers], header)

    prefix = str(root.resolve()).rstrip("/") + "/"
    local = F.regexp_replace(F.col("_metadata.file_path"), r"^file:(//)?", "")
    source = F.when(local.startswith(prefix), F.substring(local, len(prefix) + 1, 1 << 30)).otherwise(local)
    out = None
    for paths in groups.values():
        df = spark.read.parquet(*[str(p.resolve()) for p in paths])
        lower = {c.strip().lower(): c for c in df.columns}
        df = df.select(source.alias("source_file"), F.lit(None).cast("long").alias("_line"),
                       F.lit(None).cast("string").alias("_error"), F.lit(None).cast("string").alias("_raw"),
                       *[F.col(f"`{lower[c]}`").cast("string").alias(c) if c in lower
                         else F.lit(None).cast("string").alias(c) for c in COLUMNS[table]])
        out = df if out is None else out.unionByName(df)
    return out


def _read_table(spark: SparkSession, table: str, files: list[Path], kind: str, root: Path) -> DataFrame:
    if kind == "csv":
        return _read_csv(spark, table, files, root)
    return _read_parquet(spark, table, files, root)


def _where() -> Column:
    """``events.csv:17`` for a CSV record, the file alone for Parquet."""
    return F.when(F.col("_line").isNotNull(), F.concat_ws(":", "source_file", F.col("_line").cast("string"))) \
        .otherwise(F.col("source_file"))


def _empty(spark: SparkSession, table: str) -> DataFrame:
    return spark.createDataFrame([], T.StructType([T.StructField(n, t) for n, t in META]
                                                  + [T.StructField(c, T.StringType()) for c in COLUMNS[table]]))


def _v(name: str) -> Column:
    return C.blank_to_null(F.col(name))


def event_status(col: Column) -> Column:
    """The canonical status of an events status cell (EVENT_STATUS; empty → active); null when the
    cell holds a value outside the table."""
    v = F.lower(C.blank_to_null(col))
    m = F.create_map(*[F.lit(x) for k, s in sorted(EVENT_STATUS.items()) for x in (k, s)])
    return F.when(v.isNull(), F.lit("active")).otherwise(F.try_element_at(m, v))


def _row_reason(table: str) -> Column:
    """The first failed check for a row of ``table`` (null = good); unknown patient is added later."""
    def dates(*names):
        out = F.lit(False)
        for n in names:
            out = out | C.bad_date(F.col(n))
        return out

    if table == "practices":
        return C.first_reason((_v("practice_id").isNull(), C.NO_PRACTICE_ID))
    checks = [(_v("patient_id").isNull(), C.NO_PATIENT_ID)]
    if table == "patients":
        checks += [(dates("birth_date", "death_date", "registration_start", "registration_end"), C.BAD_DATE),
                   (C.bad_bool(F.col("care_home")), C.BAD_VALUE)]
    elif table == "events":
        checks += [(_v("code").isNull(), C.NO_CODE), (_v("date").isNull(), C.NO_DATE),
                   (dates("date"), C.BAD_DATE), (C.bad_number(F.col("value")), C.BAD_NUMBER),
                   (event_status(F.col("status")).isNull(), UNKNOWN_STATUS)]
    elif table == "medications":
        checks += [(_v("code").isNull(), C.NO_CODE), (_v("date").isNull(), C.NO_DATE),
                   (dates("date", "end_date"), C.BAD_DATE), (C.bad_number(F.col("quantity")), C.BAD_NUMBER)]
    elif table == "referrals":
        checks += [(_v("code").isNull(), C.NO_CODE), (_v("date").isNull(), C.NO_DATE),
                   (dates("date", "outcome_date"), C.BAD_DATE)]
    elif table == "encounters":
        checks += [(_v("start").isNull(), C.NO_DATE), (dates("start", "end"), C.BAD_DATE)]
    return C.first_reason(*checks)


def encounter_class(col: Column) -> Column:
    v = F.lower(F.trim(col))
    m = F.create_map(*[F.lit(x) for k, c in sorted(ENCOUNTER_CLASS.items()) for x in (k, c)])
    return (F.when(v.isin(*CANONICAL_CLASSES), v)
            .otherwise(F.coalesce(F.try_element_at(m, F.upper(v)), F.lit("other"))))


def _canonical(table: str) -> list[Column]:
    """Typed canonical columns (plus source_file) of a validated extract row."""
    d, s, n = (lambda c: C.parse_date(F.col(c))), _v, (lambda c: C.parse_double(F.col(c)))
    system = C.normalise_system(F.col("system"))
    if table == "practices":
        cols = dict(practice_id=s("practice_id"), practice_name=s("practice_name"), pcn_id=s("pcn_id"),
                    pcn_name=s("pcn_name"))
    elif table == "patients":
        cols = dict(patient_id=s("patient_id"),
                    nhs_number=C.blank_to_null(F.regexp_replace(F.col("nhs_number"), r"[^0-9]", "")),
                    given_name=s("given_name"), family_name=s("family_name"), birth_date=d("birth_date"),
                    sex=F.lower(s("sex")), death_date=d("death_date"), deceased=d("death_date").isNotNull(),
                    lsoa_code=s("lsoa_code"), practice_id=s("practice_id"),
                    registration_start=d("registration_start"), registration_end=d("registration_end"),
                    address_care_home=C.parse_bool(F.col("care_home")))
    elif table == "events":
        cols = dict(patient_id=s("patient_id"), date=d("date"), system=system, code=s("code"), display=s("display"),
                    value=n("value"), unit=s("unit"), kind=F.lower(s("kind")),
                    status=event_status(F.col("status")), source_id=s("event_id"))
    elif table == "medications":
        cols = dict(patient_id=s("patient_id"), date=d("date"), end_date=d("end_date"), system=system, code=s("code"),
                    display=s("display"), status=F.lower(s("status")), quantity=n("quantity"),
                    source_id=s("issue_id"), kind=F.lit("issue"))   # a GP-extract row is an issue (§0)
    elif table == "referrals":
        cols = dict(patient_id=s("patient_id"), date=d("date"), system=system, code=s("code"), display=s("display"),
                    priority=F.lower(s("priority")), status=F.lower(s("status")), outcome_date=d("outcome_date"),
                    source_id=s("referral_id"))
    else:
        cls = encounter_class(F.col("class"))
        cols = {"patient_id": s("patient_id"), "start": d("start"), "end": d("end"), "class": cls,
                "emergency": cls == "emergency", "system": system, "code": s("code"), "source_id": s("encounter_id")}
    out = [cols.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in schema.TABLES[table].fields]
    if table == "patients":
        out += [F.lit(None).cast("string").alias("eth_ext_system"), F.lit(None).cast("string").alias("eth_ext_code")]
    return [_where().alias("source_file"), *out]


def read_extract(spark: SparkSession, inv: Inventory) -> tuple[dict[str, DataFrame], DataFrame, list[DataFrame]]:
    """(canonical-shaped tables, per-row outcomes, persisted frames).

    outcomes: one row per extract row: resource_type (= table), outcome, reason, source_file
    (``file:line`` for CSV), json (the row as JSON, only when quarantined).
    """
    kind = inv.extract_kind or "csv"
    raw = {t: (_read_table(spark, t, inv.extract[t], kind, inv.root) if t in inv.extract else _empty(spark, t))
           for t in EXTRACT_TABLES}
    persisted = []
    checked = {}
    for t in EXTRACT_TABLES:
        # a record that could not be split into fields has only its structural reason
        checked[t] = raw[t].withColumn("_reason", F.coalesce(F.col("_error"), _row_reason(t)))
    patients = checked["patients"].persist()
    persisted.append(patients)
    checked["patients"] = patients
    known = patients.filter(F.col("_reason").isNull()).select(F.trim("patient_id").alias("_known")).distinct()
    for t in ("events", "medications", "referrals", "encounters"):
        df = checked[t].join(known, F.trim(F.col("patient_id")) == F.col("_known"), "left")
        df = df.withColumn("_reason", F.coalesce(F.col("_reason"), F.when(F.col("_known").isNull(),
                                                                          F.lit(C.UNKNOWN_PATIENT)))).drop("_known")
        checked[t] = df.persist()
        persisted.append(checked[t])
    checked["practices"] = checked["practices"].persist()
    persisted.append(checked["practices"])

    outcomes = None
    tables = {}
    for t in EXTRACT_TABLES:
        df = checked[t]
        data_cols = [c for c in COLUMNS[t]]
        o = df.select(F.lit(t).alias("resource_type"),
                      F.when(F.col("_reason").isNotNull(), F.lit("quarantined")).otherwise(F.lit("ingested"))
                      .alias("outcome"),
                      F.col("_reason").alias("reason"), _where().alias("source_file"),
                      F.when(F.col("_reason").isNotNull(),
                             F.coalesce(F.col("_raw"), F.to_json(F.struct(*data_cols)))).alias("json"))
        outcomes = o if outcomes is None else outcomes.unionByName(o)
        tables[t] = df.filter(F.col("_reason").isNull()).select(*_canonical(t))
    return tables, outcomes, persisted
