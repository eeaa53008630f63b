"""The canonical record as one object: six tables plus the codelists the rules name."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from engine import schema
from engine.codelists import load_codelist


@dataclass
class Record:
    patients: DataFrame
    practices: DataFrame
    events: DataFrame
    medications: DataFrame
    referrals: DataFrame
    encounters: DataFrame
    codelist_dir: Path | None = None
    _codes: dict = field(default_factory=dict, repr=False)
    codelist_paths: dict = field(default_factory=dict, repr=False)   # name → file, for the manifest
    facts: dict = field(default_factory=dict, repr=False)   # as_of → cached patient facts (engine.features.facts)

    @property
    def spark(self) -> SparkSession:
        return self.patients.sparkSession

    @classmethod
    def from_tables(cls, tables: dict[str, DataFrame], codelist_dir: Path | None = None) -> "Record":
        return cls(**{name: tables[name] for name in schema.TABLES}, codelist_dir=codelist_dir)

    @classmethod
    def read_parquet(cls, spark: SparkSession, folder: str | Path, codelist_dir: Path | None = None) -> "Record":
        folder = Path(folder)
        return cls(**{name: spark.read.schema(s).parquet(str(folder / name)) for name, s in schema.TABLES.items()},
                   codelist_dir=codelist_dir)

    def codes(self, name: str) -> DataFrame:
        """A small (system, code, term, <extra columns>) table for a codelist, ready to broadcast."""
        if name not in self._codes:
            cl = load_codelist(name, self.codelist_dir)
            self.codelist_paths[name] = cl.path
            cols = ["system", "code", "term", *cl.extra_columns]
            rows = [tuple(r.get(c, "") for c in cols) for r in cl.rows]
            df = self.spark.createDataFrame(rows, T.StructType([T.StructField(c, T.StringType()) for c in cols]))
            self._codes[name] = F.broadcast(df.dropDuplicates(["system", "code"]))
        return self._codes[name]
