"""One SparkSession for the whole suite, bound to loopback, with few shuffle partitions."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FHIR_SAMPLES = SHARED / "fhir_samples"


@pytest.fixture(scope="session")
def spark():
    from engine.spark import get_spark

    session = get_spark(master="local[2]", app_name="casefind-tests", loopback=True,
                        extra={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                               "spark.driver.memory": "4g"},
                        # The suite is thousands of tiny stages in one cold JVM: optimising JIT
                        # compilation costs more than it saves (conf/spark/local-cluster.conf). C1
                        # alone shrinks the JIT code cache to 48 MiB, which one pipeline run fills
                        # ("CodeCache is full. Compiler has been disabled"): everything after it ran
                        # interpreted (benchmarks/test_settings.py), so the cache gets its usual size.
                        java_options="-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseSerialGC")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spec_record(spark):
    """Every spec the collected test modules declare (tests/spec.py), in one record whose patient
    facts are built once and cached for the session."""
    from spec import spec_population
    return spec_population().record(spark)


@pytest.fixture(scope="session")
def reference_input(tmp_path_factory):
    """The reference population as FHIR NDJSON (generated in a few seconds, deterministically)."""
    from reference import generated
    return generated(tmp_path_factory.mktemp("reference"), "fhir-ndjson")


@pytest.fixture(scope="session")
def reference(spark, reference_input):
    """The suite's one full run (tests/reference.py): FHIR NDJSON, every cohort, model trained."""
    from reference import pipeline_run
    return pipeline_run(spark, reference_input, "fhir-ndjson")


@pytest.fixture(scope="session")
def reference_rerun(reference_input, tmp_path_factory):
    """The reference run again under spark-submit with an executor killed (tests/cluster.py), in the
    background: started by ``_background`` below when the session starts."""
    from cluster import ReferenceRerun
    rerun = ReferenceRerun(reference_input, tmp_path_factory.mktemp("reference-rerun"))
    yield rerun
    rerun.stop()


@pytest.fixture(scope="session")
def gp_extract_run(spark, reference, tmp_path_factory):
    """The reference population as a GP extract, run with the reference's model given."""
    from reference import generated, pipeline_run
    data = generated(tmp_path_factory.mktemp("reference-gp"), "gp-extract")
    return pipeline_run(spark, data, "gp-extract", model=reference.out / "model")


@pytest.fixture(scope="session")
def bundles_record(spark, tmp_path_factory):
    """The reference population as FHIR Bundles, ingested only."""
    from reference import ingested
    return ingested(spark, tmp_path_factory.mktemp("reference-bundles"), "fhir-bundles")


@pytest.fixture(scope="session")
def fhir_samples() -> Path:
    if not FHIR_SAMPLES.is_dir():
        pytest.skip(f"shared FHIR samples not found at {FHIR_SAMPLES} (they sit beside the project "
                    "in ../shared/fhir_samples on developer machines and CI)")
    return FHIR_SAMPLES


@pytest.fixture(scope="session")
def sample_ingests(spark, fhir_samples, tmp_path_factory):
    """Each public FHIR sample folder ingested at most once per session (tests/samples.py)."""
    from samples import SampleIngests
    return SampleIngests(spark, fhir_samples, tmp_path_factory.mktemp("samples"))


# Fixtures that run the whole pipeline, spark-submit, or ingest the public sample folders (real data,
# ~170 Spark jobs per folder whatever its size): a test using one is end to end, outside the quick
# tier (pytest -m "not e2e"), whether or not its module says so.
WHOLE_RUNS = {"reference", "gp_extract_run", "bundles_record", "reference_rerun", "sample_ingests"}


def pytest_collection_modifyitems(items):
    for item in items:
        if WHOLE_RUNS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session", autouse=True)
def _background(request):
    """Start the spark-submit rerun of the reference before the first test when a selected test will
    wait for it, so it runs beside the rest of the suite instead of after it."""
    if any("reference_rerun" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("reference_rerun")


def pytest_terminal_summary(terminalreporter):
    """Print the SQL on FHIR conformance count when the suite ran (it is in CI's output)."""
    import sys
    mod = sys.modules.get("test_sql_on_fhir") or sys.modules.get("tests.test_sql_on_fhir")
    line = mod.conformance_summary() if mod else None
    if line:
        terminalreporter.write_line(line)
