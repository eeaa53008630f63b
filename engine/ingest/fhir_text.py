"""FHIR text → one row per resource: (source_file, bundle_key, full_url, depth, resource_type, json, ...).

The path for what is not bulk NDJSON of one mapped type (engine.ingest.fhir reads those directly):
JSON files, NDJSON files whose first line is another type, and lines found in a file of another
type. Two readers, whatever the folder calls itself:

* NDJSON (``*.ndjson``, ``*.NNN.ndjson``, ``.gz``): ``spark.read.text``, one line = one resource,
  blank lines ignored; LF, CRLF and CR line ends all end a line.
* JSON (``*.json``, ``.json.gz``): ``spark.read.text(wholetext=True)``, one file = one Bundle or one
  resource, pretty-printed or not; a blank file holds no record.

A resource is classified by its own ``resourceType``, never by the file name: an Observation line in
``Patient.ndjson`` is read as the Observation it is (bulk-export servers name files by type, but a
hand-assembled folder or a concatenation may not, and the record says what it is).

A Bundle is a container: its entries replace it (``from_json`` with ``entry.resource`` typed as a
string returns each entry's resource as raw JSON text), nested Bundles are unpacked the same way up
to ``MAX_DEPTH`` levels. Each level is a projection + explode of the one before, so every byte is
read once and every resource's head parsed once; nothing is parsed in Python.

Bytes that are not UTF-8 (a Latin-1 ``é`` in a display) are replaced by U+FFFD and the record is
kept: codes, dates and values are ASCII, so only free text loses a character, and the later stages
(Parquet, Arrow, pandas) then only ever see valid UTF-8. ``bad_utf8`` marks those records.

A file Spark cannot read at all (a ``.gz`` that is not gzip, a corrupt or truncated gzip stream) is
not read: ``unreadable_gzip`` finds it first and ``read_records`` gives it one quarantined row that
names it (Spark would fail the whole job, naming the file only inside a stack trace).
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.ingest import columns as C
from engine.ingest.files import Inventory

MAX_DEPTH = 4   # Bundle inside Bundle inside ... (HL7 examples go 2 deep)
GZIP_MAGIC = b"\x1f\x8b"

S = T.StringType()
# The head of any JSON text: enough to route it, and a Bundle's entries as raw JSON text. ``meta``,
# ``request`` and ``response`` are strings so that an odd shape there cannot make a whole Bundle
# unreadable; ``_corrupt`` is filled by from_json (columnNameOfCorruptRecord) when the text is not JSON.
CORRUPT = "_corrupt"
ENTRY = T.StructType([T.StructField(n, S) for n in ("fullUrl", "resource", "request", "response")])
HEAD = T.StructType([T.StructField(n, t) for n, t in (
    ("resourceType", S), ("id", S), ("meta", S), ("type", S), ("entry", T.ArrayType(ENTRY)), ("eventId", S),
    ("exportId", S), (CORRUPT, S))])

RECORD_SCHEMA = T.StructType([T.StructField(n, t) for n, t in (
    ("source_file", T.StringType()), ("bundle_key", T.StringType()), ("full_url", T.StringType()),
    ("depth", T.IntegerType()), ("resource_type", T.StringType()), ("resource_id", T.StringType()),
    ("last_updated", T.StringType()), ("bad_utf8", T.BooleanType()), ("json", T.StringType()),
    ("outcome", T.StringType()), ("reason", T.StringType()))])


def glob_escape(path: str) -> str:
    """Spark treats load paths as Hadoop globs; escape glob characters in real file names."""
    return re.sub(r"([\[\]{}*?\\])", r"\\\1", path)


def _relative(path_col: Column, root: Path) -> Column:
    """The file's path relative to the input folder (as shown in quarantine and the report)."""
    local = F.regexp_replace(path_col, r"^file:(//)?", "")
    prefix = str(root.resolve()).rstrip("/") + "/"
    return F.when(local.startswith(prefix), F.substring(local, len(prefix) + 1, 1 << 30)).otherwise(local)


def _gzip_problem(path: Path) -> str | None:
    if path.stat().st_size == 0:
        return None   # an empty file: listed as empty, never read
    with path.open("rb") as fh:
        if fh.read(2) != GZIP_MAGIC:
            return C.NOT_GZIP
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error):
        return C.UNREADABLE_FILE
    return None


def unreadable_gzip(paths: list[Path]) -> dict[Path, str]:
    """The ``.gz`` files among ``paths`` Spark could not decompress → the reason. Each is decompressed
    once here and the bytes thrown away (zlib releases the GIL, so files are checked in parallel)."""
    gz = [p for p in paths if p.name.lower().endswith(".gz")]
    if not gz:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(gz), os.cpu_count() or 1, 8)) as pool:
        problems = dict(zip(gz, pool.map(_gzip_problem, gz)))
    return {p: why for p, why in problems.items() if why}


def read_text(spark: SparkSession, paths: list[Path], root: Path, wholetext: bool) -> DataFrame:
    df = spark.read.text([glob_escape(str(p.resolve())) for p in paths], wholetext=wholetext)
    valid = F.is_valid_utf8("value")
    text = F.when(valid, F.col("value")).otherwise(F.make_valid_utf8("value"))
    df = df.select(_relative(F.col("_metadata.file_path"), root).alias("source_file"),
                   F.regexp_replace(text, "^\uFEFF", "").alias("text"), (~valid).alias("bad_utf8"))
    return df.filter(F.trim(F.col("text")) != "")


def _start(df: DataFrame) -> DataFrame:
    return df.select(
        "source_file", F.col("source_file").alias("bundle_key"), F.lit(None).cast("string").alias("full_url"),
        F.lit(0).alias("depth"), "text", "bad_utf8", F.lit(None).cast("string").alias("note"),
        F.lit(False).alias("done"), F.lit(None).cast("string").alias("rt"), F.lit(None).cast("string").alias("rid"),
        F.lit(None).cast("string").alias("lu"),
        F.lit(None).cast("boolean").alias("is_obj"), F.lit(None).cast("boolean").alias("is_log"))


def _unpack_level(df: DataFrame, explode_bundles: bool) -> DataFrame:
    """Parse the head of every row not yet parsed; replace each Bundle by its entries."""
    todo = ~F.col("done") & F.col("note").isNull()
    df = df.withColumn("h", F.when(todo, F.from_json("text", HEAD, {"columnNameOfCorruptRecord": CORRUPT})))
    # json_object_keys alone lets an unescaped control character (a NUL) inside a string through;
    # from_json's corrupt-record column does not.
    df = df.withColumn("obj", F.when(todo, F.json_object_keys("text").isNotNull()
                                     & F.col(f"h.{CORRUPT}").isNull()))
    rt = F.col("h.resourceType")
    is_bundle = todo & F.col("obj") & (rt == "Bundle")
    parsed_self = F.struct(
        "source_file", "bundle_key", "full_url", "depth", "text", "bad_utf8", "note", F.lit(True).alias("done"),
        F.when(todo, rt).otherwise(F.col("rt")).alias("rt"),
        F.when(todo, F.col("h.id")).otherwise(F.col("rid")).alias("rid"),
        F.when(todo, F.get_json_object(F.col("h.meta"), "$.lastUpdated")).otherwise(F.col("lu")).alias("lu"),
        F.when(todo, F.col("obj")).otherwise(F.col("is_obj")).alias("is_obj"),
        F.when(todo, F.col("h.eventId").isNotNull() & F.col("h.exportId").isNotNull())
         .otherwise(F.col("is_log")).alias("is_log"))
    if not explode_bundles:
        return df.select(F.explode(F.array(parsed_self)).alias("r")).select("r.*")

    def child(e: Column) -> Column:
        no_res = e.getField("resource").isNull()
        has_req = e.getField("request").isNotNull() | e.getField("response").isNotNull()
        return F.struct(
            F.col("source_file").alias("source_file"), F.col("bundle_key").alias("bundle_key"),
            e.getField("fullUrl").alias("full_url"), (F.col("depth") + 1).alias("depth"),
            e.getField("resource").alias("text"), F.col("bad_utf8").alias("bad_utf8"),
            F.when(no_res, F.when(has_req, F.lit("skip")).otherwise(F.lit("quarantine"))).alias("note"),
            F.lit(False).alias("done"), F.lit(None).cast("string").alias("rt"),
            F.lit(None).cast("string").alias("rid"), F.lit(None).cast("string").alias("lu"),
            F.lit(None).cast("boolean").alias("is_obj"), F.lit(None).cast("boolean").alias("is_log"))

    items = F.when(is_bundle, F.transform(F.coalesce(F.col("h.entry"), F.array()), child)) \
             .otherwise(F.array(parsed_self))
    return df.select(F.explode(items).alias("r")).select("r.*")


def _unreadable_rows(spark: SparkSession, inv: Inventory, unreadable: dict[Path, str]) -> DataFrame:
    data = [(inv.rel(p), inv.rel(p), None, 0, None, None, None, False, None, "quarantined", reason)
            for p, reason in sorted(unreadable.items())]
    return spark.createDataFrame(data, RECORD_SCHEMA)


def read_records(spark: SparkSession, inv: Inventory, used: tuple[str, ...], unreadable: dict[Path, str] | None = None,
                 *, ndjson: list[Path] | None = None, extra: DataFrame | None = None) -> DataFrame:
    """Every resource (and every non-resource line/entry) in the folder, classified.

    Columns (RECORD_SCHEMA): source_file, bundle_key, full_url, depth, resource_type, resource_id,
    last_updated (meta.lastUpdated as written), bad_utf8, json, outcome, reason (resource_id is the
    resource's id, else the id its fullUrl implies). ``outcome`` is null for resources of a type the
    mapping reads (it decides), else ``quarantined`` or ``skipped`` with a fixed ``reason``.
    ``unreadable`` (file → reason) are left out of the read and get one quarantined row each.
    ``used``: the resource types that are mapped. ``ndjson``: the NDJSON files to read here (default:
    all of the folder's); ``extra``: more text rows (source_file, text, bad_utf8), e.g. lines another
    reader found in a file of another type.
    """
    unreadable = unreadable or {}
    parts = [] if extra is None else [extra]
    for paths, wholetext in ((inv.ndjson if ndjson is None else ndjson, False), (inv.json, True)):
        paths = [p for p in paths if p not in unreadable and p not in inv.empty]
        if paths:
            parts.append(read_text(spark, paths, inv.root, wholetext=wholetext))
    bad_files = _unreadable_rows(spark, inv, unreadable) if unreadable else None
    if not parts:
        return bad_files if bad_files is not None else spark.createDataFrame([], RECORD_SCHEMA)
    text = parts[0]
    for p in parts[1:]:
        text = text.unionByName(p)
    df = _start(text)
    for level in range(MAX_DEPTH + 1):
        df = _unpack_level(df, explode_bundles=level < MAX_DEPTH)

    rt, note = F.col("rt"), F.col("note")
    quarantine, skip = F.lit("quarantined"), F.lit("skipped")
    outcome = (F.when(note == "skip", skip).when(note == "quarantine", quarantine)
               .when(~F.col("is_obj"), quarantine)
               .when(rt.isNull() & F.col("is_log"), skip)
               .when(rt.isNull(), quarantine)
               .when(rt == "Bundle", quarantine)
               .when(rt.isin(*used), F.lit(None).cast("string"))
               .otherwise(skip))
    reason = (F.when(note.isNotNull(), F.lit(C.ENTRY_WITHOUT_RESOURCE))
              .when(~F.col("is_obj"), F.lit(C.INVALID_JSON))
              .when(rt.isNull() & F.col("is_log"), F.lit(C.EXPORT_LOG))
              .when(rt.isNull(), F.lit(C.NO_RESOURCE_TYPE))
              .when(rt == "Bundle", F.lit(C.NESTED_TOO_DEEP))
              .when(rt.isin(*used), F.lit(None).cast("string"))
              .otherwise(F.lit(C.TYPE_NOT_USED)))
    # An entry with no resource has no text: keep its fullUrl as the quarantined record.
    json = F.when(note.isNotNull(), F.to_json(F.struct(F.col("full_url").alias("fullUrl")))).otherwise(F.col("text"))
    df = df.select("source_file", "bundle_key", "full_url", "depth",
                   rt.alias("resource_type"),
                   F.coalesce(C.blank_to_null(F.col("rid")), C.id_from_full_url(F.col("full_url"))).alias("resource_id"),
                   F.col("lu").alias("last_updated"), "bad_utf8",
                   json.alias("json"),
                   outcome.alias("outcome"), reason.alias("reason"))
    return df if bad_files is None else df.unionByName(bad_files)
