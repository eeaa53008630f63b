"""Everything a run can check before Spark starts, so a typo costs a second, not a four-minute ingest.

Every config file the run will read is loaded and validated here (cohort parameters, inequalities
weights, units, pipeline settings, every codelist): the first problem is a ConfigError naming the
file and the key. Only files are read; no Spark, no input data.
"""
from __future__ import annotations

from engine.codelists import read_codelist
from engine.config import ConfigError, conf_dir, load_facts_params, lsoa_imd_path, pipeline_config

PIPELINE_KEYS = {"lsoa_imd"}


def check_config(cohort_names: list[str] | None = None) -> list[str]:
    """Validate the configuration for a run of ``cohort_names`` (default all); returns their names."""
    from engine.cohorts import COHORTS
    from engine.ingest.units import check_units_file
    from engine.worklists.inequalities import check_bands, load_params

    names = cohort_names or list(COHORTS)
    unknown = [n for n in names if n not in COHORTS]
    if unknown:
        raise ConfigError(f"unknown cohort(s): {', '.join(unknown)} (known: {', '.join(COHORTS)})")
    extra = sorted(set(pipeline_config()) - PIPELINE_KEYS)
    if extra:
        raise ConfigError(f"{conf_dir() / 'pipeline.yaml'}: unknown setting(s) {', '.join(extra)} "
                          f"(known: {', '.join(sorted(PIPELINE_KEYS))})")
    lsoa_imd_path()        # the IMD file pipeline.yaml names exists
    load_facts_params()
    for name in names:
        COHORTS[name].params()
    check_bands(load_params())
    folder = conf_dir() / "codelists"
    if not folder.is_dir():
        raise ConfigError(f"codelist folder not found: {folder}")
    for path in sorted(folder.glob("*.csv")):
        read_codelist(path, path.stem)
    check_units_file()
    return names
