"""What a cohort is: a named rule over the record, its parameters, and how its worklist ranks.

A cohort's ``find`` returns one row per patient it considered (its eligible population) with one
boolean column per rule, in the order the rules apply, and, for patients meeting them all, the
worklist columns: ``band``, ``band_order`` (1 = most urgent), ``reason`` (a sentence a clinician can
read), ``evidence`` (JSON of the dates, codes and values behind it) and the cohort's own columns.
The pipeline derives both the worklist (rows meeting every rule) and the attrition counts (how many
pass each rule in turn) from that one table.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from engine.config import cohort_params
from engine.record import Record


def number_text(col: Column) -> Column:
    """142 rather than 142.0; one decimal where the value has one (for reason sentences)."""
    return F.regexp_replace(F.format_string("%.1f", col), r"\.0$", "")


@dataclass(frozen=True)
class Rule:
    column: str
    label: str


@dataclass(frozen=True)
class Cohort:
    name: str                       # worklist file name: <out>/<pcn>/<name>.csv
    title: str
    explanation: str                # plain English, with {parameter} placeholders
    defaults: dict
    rules: tuple[Rule, ...]
    find: Callable[[Record, dt.date, dict], DataFrame]
    rank: tuple[tuple[str, bool], ...]   # (column, descending) after band_order
    columns: tuple[str, ...] = ()        # the cohort's own worklist columns

    def params(self, overrides: dict | None = None) -> dict:
        return cohort_params(self.name, self.defaults, overrides)

    @staticmethod
    def _shown(params: dict) -> dict:
        return {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in params.items()}

    def rule_labels(self, params: dict) -> list[str]:
        """Each rule in plain English with the parameter values in force."""
        shown = self._shown(params)
        return [r.label.format(**shown) for r in self.rules]

    def explain(self, overrides: dict | None = None) -> str:
        params = self.params(overrides)
        shown = self._shown(params)
        steps = "\n".join(f"  {i}. {label}" for i, label in enumerate(self.rule_labels(params), 1))
        settings = "\n".join(f"  {k} = {shown[k]}" for k in sorted(shown))
        return (f"{self.title} ({self.name})\n\n{self.explanation.format(**shown)}\n\n"
                f"Rules, in order:\n{steps}\n\nParameters (conf/cohorts/{self.name}.yaml):\n{settings}\n")

    def evaluate(self, record: Record, as_of: dt.date, overrides: dict | None = None) -> DataFrame:
        """The considered population with rule flags and a ``member`` column."""
        df = self.find(record, as_of, self.params(overrides))
        member = F.lit(True)
        for rule in self.rules:
            member = member & F.coalesce(F.col(rule.column), F.lit(False))
        return df.withColumn("member", member)
