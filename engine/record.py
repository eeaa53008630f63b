"""The canonical record as one object: six tables, the codelist folder the facts read, and the
facts tables built from it (cached per run date)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from engine import schema


@dataclass
class Record:
    patients: DataFrame
    practices: DataFrame
    events: DataFrame
    medications: DataFrame
    referrals: DataFrame
    encounters: DataFrame
    codelist_dir: Path | None = None
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
