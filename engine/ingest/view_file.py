"""``casefind view``: one ViewDefinition over a folder of FHIR files, its rows to a CSV or Parquet file.

The files are read as ingest reads them (engine.ingest.fhir_text: NDJSON lines and Bundle entries,
classified by their own resourceType), the resources of the view's type are parsed with the schema
the view needs, and the rows are written to one file. A collection column is written to CSV as
JSON text. The output is created owner-only and must not be inside the input.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine.config import ConfigError
from engine.ingest.fhir_text import read_records
from engine.ingest.files import inventory
from engine.views import compile_view, parse_resources, select_rows


def _check_out(out: Path, source: Path) -> None:
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ConfigError(f"--out must end in .csv or .parquet: {out}")
    src, dst = source.resolve(), out.resolve()
    if dst == src or src in dst.parents:
        raise ConfigError(f"--out {out} is inside the input {source}: the input is never written")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name")


def write_view(spark: SparkSession, view_path: Path, source: Path, out: Path) -> int:
    """Rows of the view at ``view_path`` over the FHIR files in ``source``, written to ``out``."""
    try:
        view = json.loads(Path(view_path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read view {view_path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"view {view_path} is not JSON: {e}") from None
    cv = compile_view(view)
    _check_out(out, source)
    inv = inventory(source)
    if inv.extract:
        raise ConfigError(f"{source} holds GP-extract tables; a view reads FHIR")
    records = read_records(spark, inv, (cv.resource,))
    resources = records.filter((F.col("resource_type") == cv.resource) & F.col("outcome").isNull())
    rows = select_rows(parse_resources(resources.select("json"), cv, "json"), cv)
    as_csv = out.suffix.lower() == ".csv"
    frame = rows.select(*[F.to_json(F.col(f.name)).alias(f.name) if as_csv and isinstance(f.dataType, T.ArrayType)
                          else F.col(f.name) for f in rows.schema.fields]).toPandas()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            if out.suffix.lower() == ".csv":
                frame.to_csv(fh, index=False)
            else:
                frame.to_parquet(fh, index=False)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(frame)
