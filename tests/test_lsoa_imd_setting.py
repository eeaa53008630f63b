"""``lsoa_imd`` in conf/pipeline.yaml names the LSOA → IMD decile file ingest reads (relative to the
conf folder, or absolute); a file it names that is missing is a one-line ConfigError."""
from __future__ import annotations

import shutil

import pytest

from engine.config import ConfigError, conf_dir, lsoa_imd_path
from engine.ingest import ingest
from engine.preflight import check_config

PATIENTS = ("patient_id,nhs_number,given_name,family_name,birth_date,sex,death_date,lsoa_code,practice_id,"
            "registration_start,registration_end,care_home\n"
            "p1,9990000018,A,B,1960-01-01,male,,E01000001,A10001,,,\n")


@pytest.fixture
def conf_copy(tmp_path, monkeypatch):
    """A copy of conf/ the engine reads (CASEFIND_CONF); its pipeline.yaml is the test's to write."""
    conf = tmp_path / "conf"
    shutil.copytree(conf_dir(), conf)
    monkeypatch.setenv("CASEFIND_CONF", str(conf))
    return conf


def _extract(folder):
    folder.mkdir()
    (folder / "patients.csv").write_text(PATIENTS)
    return folder


def _imd_file(path, decile):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"lsoa_code,imd_decile\nE01000001,{decile}\n")
    return path


def _decile(spark, tmp_path):
    result = ingest(spark, _extract(tmp_path / "in"), "gp-extract", tmp_path / "out")
    return [r["imd_decile"] for r in result.tables["patients"].collect()]


def test_the_file_the_setting_names_is_read(spark, tmp_path, conf_copy):
    _imd_file(conf_copy / "imd" / "site_imd.csv", 2)
    _imd_file(conf_copy / "lsoa_imd.csv", 7)           # the default file: must not be the one read
    (conf_copy / "pipeline.yaml").write_text("lsoa_imd: imd/site_imd.csv\n")
    assert lsoa_imd_path() == conf_copy / "imd" / "site_imd.csv"
    assert _decile(spark, tmp_path) == [2]


def test_an_absolute_path_is_read_as_is(tmp_path, conf_copy):
    other = _imd_file(tmp_path / "elsewhere" / "imd.csv", 4)
    (conf_copy / "pipeline.yaml").write_text(f"lsoa_imd: {other}\n")
    assert lsoa_imd_path() == other


def test_no_setting_reads_the_default_file(tmp_path, conf_copy):
    (conf_copy / "pipeline.yaml").write_text("# nothing set\n")
    assert lsoa_imd_path() == conf_copy / "lsoa_imd.csv"


def test_a_named_file_that_is_missing_is_one_clear_line(spark, tmp_path, conf_copy):
    (conf_copy / "pipeline.yaml").write_text("lsoa_imd: no_such_imd.csv\n")
    for check in (check_config, lsoa_imd_path, lambda: ingest(spark, _extract(tmp_path / "in"), "gp-extract",
                                                               tmp_path / "out")):
        with pytest.raises(ConfigError) as err:
            check()
        msg = str(err.value)
        assert "\n" not in msg and "lsoa_imd" in msg and str(conf_copy / "no_such_imd.csv") in msg
    assert not (tmp_path / "out" / "canonical").exists()     # stopped before anything was written


def test_a_setting_that_is_not_a_path_is_refused(conf_copy):
    (conf_copy / "pipeline.yaml").write_text("lsoa_imd: [a, b]\n")
    with pytest.raises(ConfigError, match="lsoa_imd must be a file path"):
        check_config()
