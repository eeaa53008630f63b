"""Configuration: ``conf/pipeline.yaml``, per-cohort parameters, and one error type for bad config.

A parameter has one home: its YAML file (``conf/cohorts/<cohort>.yaml``, ``conf/facts.yaml``). Code
declares only what each may hold (``Param``); an unknown, missing, wrong-typed or out-of-range value
is an error naming the file and key, so a typo in a threshold cannot go unnoticed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_CONF = Path(__file__).resolve().parents[1] / "conf"


class ConfigError(Exception):
    """A problem the user can fix: bad config, a missing input, a bad argument. One line, no trace."""


def conf_dir() -> Path:
    return Path(os.environ.get("CASEFIND_CONF", REPO_CONF))


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return data


def pipeline_config() -> dict:
    return read_yaml(conf_dir() / "pipeline.yaml")


DEFAULT_LSOA_IMD = "lsoa_imd.csv"


def lsoa_imd_path() -> Path:
    """The LSOA → IMD decile file: ``lsoa_imd`` in ``conf/pipeline.yaml`` (a path relative to the
    conf folder, or absolute), else ``conf/lsoa_imd.csv``.

    A file the setting names must exist (ConfigError, one line, naming the setting and the path);
    with no setting the default file may be absent (ingest then leaves imd_decile empty, with a
    warning).
    """
    setting = pipeline_config().get("lsoa_imd")
    if setting is None:
        return conf_dir() / DEFAULT_LSOA_IMD
    where = f"{conf_dir() / 'pipeline.yaml'}: lsoa_imd"
    if not isinstance(setting, str) or not setting.strip():
        raise ConfigError(f"{where} must be a file path (relative to {conf_dir()} or absolute), got {setting!r}")
    path = Path(setting.strip()).expanduser()
    if not path.is_absolute():
        path = conf_dir() / path
    if not path.is_file():
        raise ConfigError(f"{where} names {path}, which is not a file")
    return path


@dataclass(frozen=True)
class Param:
    """What a parameter may hold; its value lives only in its YAML file."""
    kind: str                     # "int", "number", "str", "list[str]", "list[int]"
    low: float | None = None      # inclusive bounds for numbers (and list[int] items)
    high: float | None = None


def _ok(spec: Param, value: Any) -> bool:
    def number(v, integer=False):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
            return False
        return (spec.low is None or v >= spec.low) and (spec.high is None or v <= spec.high)
    if spec.kind == "int":
        return number(value, integer=True)
    if spec.kind == "number":
        return number(value)
    if spec.kind == "str":
        return isinstance(value, str) and value != ""
    if spec.kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if spec.kind == "list[int]":
        return isinstance(value, list) and all(number(v, integer=True) for v in value)
    raise AssertionError(f"unknown parameter kind {spec.kind}")


def _expected(spec: Param) -> str:
    kind = {"int": "a whole number", "number": "a number", "str": "text", "list[str]": "a list of text",
            "list[int]": "a list of whole numbers"}[spec.kind]
    bounds = [f"≥ {spec.low:g}" if spec.low is not None else "", f"≤ {spec.high:g}" if spec.high is not None else ""]
    bounds = " and ".join(b for b in bounds if b)
    return f"{kind}{' ' + bounds if bounds else ''}"


def load_params(path: Path, schema: dict[str, Param], overrides: dict | None = None) -> dict[str, Any]:
    """The parameters in ``path`` (every key of ``schema``, nothing else), then ``overrides``.

    Unknown, missing, wrong-typed or out-of-range values raise ConfigError naming the file and key."""
    values = read_yaml(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found")
    params: dict[str, Any] = {}
    for source, given in ((str(path), values), ("overrides", overrides or {})):
        for key, value in given.items():
            if key not in schema:
                raise ConfigError(f"{source}: unknown parameter '{key}' (known: {', '.join(sorted(schema))})")
            if not _ok(schema[key], value):
                raise ConfigError(f"{source}: parameter '{key}' must be {_expected(schema[key])}, got {value!r}")
            params[key] = value
    missing = [k for k in schema if k not in params]
    if missing:
        raise ConfigError(f"{path}: missing parameter(s) {', '.join(missing)}")
    return params


def cohort_params(cohort: str, schema: dict[str, Param], overrides: dict | None = None) -> dict[str, Any]:
    """``conf/cohorts/<cohort>.yaml``, checked against the cohort's declared parameters."""
    return load_params(conf_dir() / "cohorts" / f"{cohort}.yaml", schema, overrides)


FACT_PARAMS = {
    "care_home_types": Param("list[str]"),
    "dlcn_ldl_8_points_above": Param("number", 0, 30),
    "dlcn_ldl_5_points_from": Param("number", 0, 30),
    "dlcn_ldl_3_points_from": Param("number", 0, 30),
    "dlcn_ldl_1_point_from": Param("number", 0, 30),
    "dlcn_premature_age_men": Param("int", 0, 120),
    "dlcn_premature_age_women": Param("int", 0, 120),
}


def load_facts_params() -> dict[str, Any]:
    """``conf/facts.yaml``: the few choices a fact itself depends on (care-home types, DLCN thresholds)."""
    params = load_params(conf_dir() / "facts.yaml", FACT_PARAMS)
    ladder = ["dlcn_ldl_1_point_from", "dlcn_ldl_3_points_from", "dlcn_ldl_5_points_from", "dlcn_ldl_8_points_above"]
    for low, high in zip(ladder, ladder[1:]):
        if params[low] > params[high]:
            raise ConfigError(f"{conf_dir() / 'facts.yaml'}: {low} ({params[low]}) must not be above {high} "
                              f"({params[high]})")
    return params
