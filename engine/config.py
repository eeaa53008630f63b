"""Configuration: ``conf/pipeline.yaml``, per-cohort parameters, and one error type for bad config.

Cohort parameters have their defaults in the cohort's code (the clinical rules) and may be
overridden in ``conf/cohorts/<cohort>.yaml`` or by a run's ``--conf`` folder. An unknown key is an
error, not a silent no-op, so a typo in a threshold name cannot go unnoticed.
"""
from __future__ import annotations

import os
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


def cohort_params(cohort: str, defaults: dict[str, Any], overrides: dict | None = None) -> dict[str, Any]:
    """Defaults from code, then ``conf/cohorts/<cohort>.yaml``, then explicit overrides."""
    params = dict(defaults)
    for source, values in ((f"conf/cohorts/{cohort}.yaml", read_yaml(conf_dir() / "cohorts" / f"{cohort}.yaml")),
                           ("overrides", overrides or {})):
        for key, value in values.items():
            if key not in defaults:
                raise ConfigError(f"{source}: unknown parameter '{key}' for cohort {cohort} "
                                  f"(known: {', '.join(sorted(defaults))})")
            params[key] = _checked(cohort, source, key, defaults[key], value)
    return params


def _checked(cohort: str, source: str, key: str, default: Any, value: Any) -> Any:
    """The override, if it has the default's type (a threshold may be int or float)."""
    number = (int, float)
    if isinstance(default, number) and not isinstance(default, bool):
        ok = isinstance(value, number) and not isinstance(value, bool)
        kind = "a number"
    elif isinstance(default, list):
        ok = isinstance(value, list) and all(isinstance(v, type(default[0])) for v in value) if default else isinstance(value, list)
        kind = "a list"
    else:
        ok = isinstance(value, type(default))
        kind = type(default).__name__
    if not ok:
        raise ConfigError(f"{source}: parameter '{key}' for cohort {cohort} must be {kind}, got {value!r}")
    return value
