"""What a cohort is: a declaration over the patient facts, read by one renderer (``render``).

A cohort names its population (registered, alive, at least ``min_age``), its criteria in the order
they apply (each a predicate over facts with a label), its bands (the first that holds), how its
worklist ranks, its reason sentence, its evidence fields and its own worklist columns. Every value
the rule uses is a parameter declared here by kind only (``engine.config.Param``); its value lives
in ``conf/cohorts/<name>.yaml``. ``derive`` names intermediate columns the criteria, bands and
reason share (a window's count, a latest reading), computed over the facts row, never by a join.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from pyspark.sql import Column

from engine.config import Param, cohort_params, load_facts_params

Predicate = Callable[[dict], Column]


@dataclass(frozen=True)
class Criterion:
    name: str          # the rule column in the worklist and attrition
    label: str         # plain English, with {parameter} placeholders
    holds: Predicate


@dataclass(frozen=True)
class Band:
    label: str                       # with {parameter} placeholders
    holds: Predicate | None = None   # None: every member not in an earlier band
    order: int | None = None         # 1 = most urgent; default: its position


@dataclass(frozen=True)
class Cohort:
    name: str                        # worklist file name: <out>/<pcn>/<name>.csv
    title: str
    section: str                     # CLINICAL_RULES section
    explanation: str                 # plain English, with {parameter} placeholders
    parameters: dict[str, Param]
    criteria: tuple[Criterion, ...]
    bands: tuple[Band, ...]
    reason: Callable[[dict, dt.date], Column]
    evidence: Callable[[dict, dt.date], list[Column]]
    rank: tuple[tuple[str, bool], ...]      # (worklist column, descending) after band order
    columns: tuple = ()                     # the cohort's own worklist columns: name, or (name, source column)
    derive: Callable[[dict, dt.date], list[dict[str, Column]]] = field(default=lambda p, as_of: [])
    inputs: tuple[str, ...] = ()            # per-patient tables the run supplies (e.g. "risk")

    def params(self, overrides: dict | None = None) -> dict:
        return cohort_params(self.name, self.parameters, overrides)

    @staticmethod
    def shown(params: dict) -> dict:
        return {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in params.items()}

    def _shown_with_facts(self, params: dict) -> dict:
        return self.shown({**load_facts_params(), **params})

    def rule_labels(self, params: dict) -> list[str]:
        """Each criterion in plain English with the parameter values in force (the cohort's and,
        where a label names one, the facts')."""
        shown = self._shown_with_facts(params)
        return [c.label.format(**shown) for c in self.criteria]

    def band_labels(self, params: dict) -> list[str]:
        shown = self._shown_with_facts(params)
        return [b.label.format(**shown) for b in self.bands]

    def band_orders(self) -> list[int]:
        return [b.order if b.order is not None else i for i, b in enumerate(self.bands, 1)]

    def explain(self, overrides: dict | None = None, facts_params: dict | None = None) -> str:
        params = self.params(overrides)
        shown = self.shown({**(facts_params if facts_params is not None else load_facts_params()), **params})
        steps = "\n".join(f"  {i}. {label}" for i, label in enumerate(self.rule_labels(shown), 1))
        bands = "\n".join(f"  {o}. {label}" for o, label in zip(self.band_orders(), self.band_labels(shown)))
        settings = "\n".join(f"  {k} = {self.shown(params)[k]}" for k in sorted(params))
        return (f"{self.title} ({self.name}, CLINICAL_RULES {self.section})\n\n{self.explanation.format(**shown)}\n\n"
                f"Rules, in order:\n{steps}\n\nBands (first that holds):\n{bands}\n\n"
                f"Parameters (conf/cohorts/{self.name}.yaml):\n{settings}\n")
