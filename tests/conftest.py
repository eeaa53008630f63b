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
                        # compilation costs more than it saves (conf/spark/local-cluster.conf).
                        java_options="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def fhir_samples() -> Path:
    if not FHIR_SAMPLES.is_dir():
        pytest.skip(f"shared FHIR samples not found at {FHIR_SAMPLES} (they sit beside the project "
                    "in ../shared/fhir_samples on developer machines and CI)")
    return FHIR_SAMPLES


def pytest_terminal_summary(terminalreporter):
    """Print the SQL on FHIR conformance count when the suite ran (it is in CI's output)."""
    import sys
    mod = sys.modules.get("test_sql_on_fhir") or sys.modules.get("tests.test_sql_on_fhir")
    line = mod.conformance_summary() if mod else None
    if line:
        terminalreporter.write_line(line)
