"""One home for every parameter: conf/cohorts/<name>.yaml and conf/facts.yaml, checked against what
each cohort declares it may hold. No Spark."""
from __future__ import annotations

import shutil

import pytest
import yaml

from engine.cohorts import COHORTS
from engine.config import REPO_CONF, ConfigError, load_facts_params


@pytest.fixture
def conf(tmp_path, monkeypatch):
    shutil.copytree(REPO_CONF, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv("CASEFIND_CONF", str(tmp_path))
    return tmp_path


def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("name", sorted(COHORTS))
def test_yaml_holds_exactly_the_declared_parameters(name):
    on_disk = yaml.safe_load((REPO_CONF / "cohorts" / f"{name}.yaml").read_text())
    assert set(on_disk) == set(COHORTS[name].parameters)


@pytest.mark.parametrize("name", sorted(COHORTS))
def test_a_missing_key_names_the_file_and_key(conf, name):
    path = conf / "cohorts" / f"{name}.yaml"
    _edit(path, lambda d: d.pop("min_age"))
    with pytest.raises(ConfigError, match=rf"{name}\.yaml: missing parameter\(s\) min_age"):
        COHORTS[name].params()


@pytest.mark.parametrize("name", sorted(COHORTS))
def test_out_of_range_and_unknown_keys_are_refused(conf, name):
    path = conf / "cohorts" / f"{name}.yaml"
    _edit(path, lambda d: d.update(min_age=-1))
    with pytest.raises(ConfigError, match=r"parameter 'min_age' must be a whole number ≥ 0 and ≤ 120, got -1"):
        COHORTS[name].params()
    _edit(path, lambda d: d.update(min_age=18, min_agee=18))
    with pytest.raises(ConfigError, match=r"unknown parameter 'min_agee'"):
        COHORTS[name].params()


def test_facts_params_are_checked_too(conf):
    _edit(conf / "facts.yaml", lambda d: d.update(dlcn_ldl_5_points_from=9.0))
    with pytest.raises(ConfigError, match="dlcn_ldl_5_points_from .* must not be above dlcn_ldl_8_points_above"):
        load_facts_params()
    _edit(conf / "facts.yaml", lambda d: d.update(dlcn_ldl_5_points_from=6.5, care_home_types="nursing"))
    with pytest.raises(ConfigError, match="care_home_types' must be a list of text"):
        load_facts_params()


def test_no_cohort_module_holds_a_parameter_value():
    """Values live in YAML only: a declaration names kinds and bounds, never a default."""
    for name, cohort in COHORTS.items():
        module = __import__(f"engine.cohorts.{name}", fromlist=["x"])
        assert not hasattr(module, "DEFAULTS"), name
        assert all(type(spec).__name__ == "Param" for spec in cohort.parameters.values()), name
