"""The jobs under spark-submit on a real (local-cluster) Spark cluster, as README "Running on a
cluster" describes: the engine shipped with --py-files, the properties in conf/spark/local-cluster.conf.

Every Spark application here runs in its own process tree (a JVM hosts one SparkContext and the
suite's session is local[2]). Under spark-submit the executors run a Python that has pandas, pyarrow
and scikit-learn but not casefind, like a cluster node: any engine code they run came in the
--py-files zip. The executor-loss test is one application: the suite's reference run again (tests/
reference.py), with one executor killed once, compared byte for byte with the reference; it is also
the suite's check that the same input gives the same bytes in another process. It is started when the
session starts (tests/conftest.py, tests/cluster.py) and runs beside the in-process tests, which leave
the second core mostly idle while the driver plans; this test only waits for it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cluster import PROFILE, PYTHON, REPO, SPARK_SUBMIT, _env, build_engine_zip, node_python
from reference import AS_OF as REFERENCE_AS_OF

AS_OF = REFERENCE_AS_OF.isoformat()


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine_zip(tmp_path_factory) -> Path:
    return build_engine_zip(tmp_path_factory.mktemp("dist") / "casefind-engine.zip")


@pytest.fixture(scope="module")
def executor_python(tmp_path_factory) -> Path:
    return node_python(tmp_path_factory.mktemp("node-python"))


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every worklist CSV and summary page (not the canonical record, quarantine or model files)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.suffix in (".csv", ".html") and p.relative_to(folder).parts[0] not in ("canonical", "quarantine", "model")}


def _manifest(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("timings_s")
    return manifest


def _people(data: Path) -> list[tuple[str, str]]:
    """(NHS number, family name) of every patient in the input, read from the input itself."""
    out = []
    for line in (data / "Patient.ndjson").read_text().splitlines():
        p = json.loads(line)
        out.append((p["identifier"][0]["value"], p["name"][0]["family"]))
    return out


# --- tests -------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_a_lost_executor_changes_no_byte_of_the_reference_run(reference, reference_rerun):
    """jobs/pipeline.py on the reference input (every cohort, the model trained again) with one executor
    SIGKILLed once, after the first cohort, while the patient facts and risk scores are cached on the
    executors: the lost share must be recomputed from lineage. It exits 0 and every worklist, summary
    page, the model card and the manifest (less timings) equal the in-process reference run's byte for
    byte: another process, another parallelism (two one-core executors), the same bytes."""
    res, killer, out = reference_rerun.wait(), reference_rerun.killer, reference_rerun.out
    assert reference_rerun.data == reference.data
    assert killer.kill is not None, f"{killer.error}\n{res.tail()}"
    assert res.returncode == 0, f"the run failed after killing {killer.kill}:\n{res.tail()}"
    assert "Lost executor" in res.output, res.tail()

    expected, got = _outputs(reference.out), _outputs(out)
    assert len([p for p in expected if p.endswith("/hypertension.csv")]) == 3   # two PCNs and UNASSIGNED
    assert sorted(got) == sorted(expected)
    assert [p for p in expected if got[p] != expected[p]] == []
    assert (out / "model" / "model_card.json").read_bytes() == (reference.out / "model" / "model_card.json").read_bytes()
    assert _manifest(out) == _manifest(reference.out)
    assert sum(c["listed"] for c in reference.manifest["cohorts"].values()) > 0
    # progress for the on-call engineer: each stage with its counts, and no one's identity
    n = reference.manifest["ingest"]["canonical_rows"]["patients"]
    assert f"ingest: {n} patients" in res.output
    assert re.search(r"cohort \d+/9 hypertension: \d+ listed", res.output), res.tail()
    for nhs, family in _people(reference.data):
        assert nhs not in res.output and family not in res.output
    print(f"\npipeline {res.seconds} s (ingest {res.marks['ingest done'] - res.marks['ingest started']:.1f} s), "
          f"killed {killer.kill}")


PROBE = textwrap.dedent("""
    import json
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()

    def where(rows):
        import sys
        import engine.codes
        for _ in rows:
            yield sys.executable, engine.codes.__file__, engine.codes.normalise_system("snomedct")

    seen = spark.sparkContext.parallelize(range(4), 2).mapPartitions(where).distinct().collect()
    print(json.dumps({"executors": sorted(seen), "master": spark.sparkContext.master}))
    spark.stop()
""")


@pytest.mark.e2e
def test_py_files_ship_the_engine_to_executors_that_lack_it(engine_zip, executor_python, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    res = subprocess.run(
        [str(SPARK_SUBMIT), "--master", "local-cluster[1,1,1024]", "--properties-file", str(PROFILE),
         "--py-files", str(engine_zip), "--conf", f"spark.pyspark.python={executor_python}",
         "--conf", f"spark.pyspark.driver.python={PYTHON}", str(probe)],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    # the driver Python's stderr comes out on spark-submit's stdout too
    out = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith('{"executors"')][-1])
    assert out["master"] == "local-cluster[1,1,1024]"
    [(python, module, system)] = out["executors"]
    assert python == str(executor_python)
    assert module.endswith(f"{engine_zip.name}/engine/codes.py"), module
    assert system == "http://snomed.info/sct"


@pytest.mark.e2e
def test_executors_use_the_driver_python_by_default():
    """Without spark-submit, engine.spark points executors at the driver's own interpreter."""
    script = textwrap.dedent("""
        import json, sys
        from engine.spark import get_spark
        spark = get_spark(master="local-cluster[1,1,1024]", loopback=True,
                          extra={"spark.executor.memory": "768m", "spark.driver.memory": "1g"})

        def where(rows):
            import sys as s, engine.codes as c
            for _ in rows:
                yield (s.executable, c.normalise_system("snomedct"))

        seen = spark.sparkContext.parallelize(range(4), 2).mapPartitions(where).distinct().collect()
        print(json.dumps({"driver": sys.executable, "executors": seen, "master": spark.sparkContext.master}))
        spark.stop()
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["master"].startswith("local-cluster")
    assert out["executors"] == [[out["driver"], "http://snomed.info/sct"]]


def test_worklists_job_refuses_without_a_record(tmp_path):
    res = subprocess.run([sys.executable, str(REPO / "jobs" / "worklists.py"), "--input", str(tmp_path),
                          "--as-of", AS_OF, "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, env=_env(), timeout=60)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "--record DIR is required" in res.stderr, res.stderr
    assert not (tmp_path / "out").exists()
