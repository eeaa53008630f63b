"""The jobs under spark-submit on a real (local-cluster) Spark cluster, as README "Running on a
cluster" describes: the engine shipped with --py-files, the properties in conf/spark/local-cluster.conf.

Every Spark application here runs in its own process tree (a JVM hosts one SparkContext and the
suite's session is local[2]). Under spark-submit the executors run a Python that has pandas, pyarrow
and scikit-learn but not casefind, like a cluster node: any engine code they run came in the
--py-files zip. The executor-loss test is one application: the suite's reference run again (tests/
reference.py), with one executor killed once, compared byte for byte with the reference; it is also
the suite's check that the same input gives the same bytes in another process.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reference import AS_OF as REFERENCE_AS_OF

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
SPARK_SUBMIT = PYTHON.parent / "spark-submit"
PROFILE = REPO / "conf" / "spark" / "local-cluster.conf"
MASTER = "local-cluster[2,1,1024]"
AS_OF = REFERENCE_AS_OF.isoformat()

# engine log lines the executor killer waits for (engine/pipeline.py)
INGEST_STARTED = re.compile(r"ingest: reading ")
INGEST_DONE = re.compile(r"ingest: \d+ patients")
FIRST_COHORT_DONE = re.compile(r"cohort 1/\d+ \S+: \d+ listed")


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "casefind-engine.zip"
    res = subprocess.run([str(REPO / "jobs" / "build_pyfiles.sh"), str(out)], capture_output=True, text=True,
                         env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="module")
def executor_python(tmp_path_factory) -> Path:
    """A Python with this venv's libraries but not its editable casefind install (a cluster node)."""
    home = tmp_path_factory.mktemp("node-python")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True, timeout=120)
    python = home / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # A plain path line: the directory joins sys.path but its own .pth files (the editable
    # install's import hook among them) are not run.
    (Path(site) / "venv-libraries.pth").write_text(ours + "\n")
    probe = subprocess.run([str(python), "-c", "import pandas, pyarrow, sklearn, yaml\nimport engine"],
                           capture_output=True, text=True, cwd=home)
    assert "No module named 'engine'" in probe.stderr, probe.stderr
    return python


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CASEFIND_CONF", "SPARK_HOME")}
    # spark-submit finds Spark through this Python; loopback for the JVM spark-submit starts
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1", CASEFIND_DEBUG="0")
    return env


# --- running spark-submit with an optional executor killer --------------------------------------

@dataclass
class Kill:
    pid: int
    executor_id: str
    app_id: str
    at_s: float
    after_marker_s: float
    before_end_marker: bool


@dataclass
class Killer:
    """Kills one executor JVM of the watched spark-submit ``delay_s`` after a log line matches
    ``start``; records whether the line matching ``end`` (if any) had not yet appeared."""
    start: re.Pattern
    delay_s: float = 0.0
    end: re.Pattern | None = None
    started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    kill: Kill | None = None
    error: str | None = None

    def line(self, text: str) -> None:
        if self.start.search(text):
            self.started.set()
        if self.end is not None and self.end.search(text):
            self.ended.set()

    def watch(self, proc: subprocess.Popen, t0: float) -> None:
        while not self.started.wait(0.5):
            if proc.poll() is not None:
                self.error = "the run ended before the start marker"
                return
        marked = time.monotonic()
        time.sleep(self.delay_s)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            for pid, argv in _executors_of(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                now = time.monotonic()
                self.kill = Kill(pid, _arg(argv, "--executor-id"), _arg(argv, "--app-id"), round(now - t0, 1),
                                 round(now - marked, 1), not self.ended.is_set())
                return
            time.sleep(0.2)
        self.error = "no executor of this run was found to kill"


def _arg(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else "?"


def _executors_of(root: int) -> list[tuple[int, list[str]]]:
    """Executor JVMs in root's process tree (local-cluster's workers live in the driver JVM and
    start executors as its children); never another run's."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            todo.append(pid)
            try:
                argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
            except OSError:
                continue
            if any(a.endswith("CoarseGrainedExecutorBackend") for a in argv):
                found.append((pid, argv))
    return found


@dataclass
class Submitted:
    returncode: int
    output: str
    seconds: float
    marks: dict[str, float]

    def tail(self, n: int = 40) -> str:
        lines = [ln for ln in self.output.splitlines() if not ln.startswith(("\tat ", "\t... "))]
        return "\n".join(lines[-n:])


def submit(args: list[str], *, py_files: Path, executor_python: Path, log: Path, master: str = MASTER,
           killer: Killer | None = None, marks: dict[str, re.Pattern] | None = None) -> Submitted:
    cmd = [str(SPARK_SUBMIT), "--master", master, "--properties-file", str(PROFILE), "--py-files", str(py_files),
           "--conf", f"spark.pyspark.python={executor_python}", "--conf", f"spark.pyspark.driver.python={PYTHON}",
           *args]
    t0 = time.monotonic()
    # spark-submit copies the driver Python's stderr (the engine's log) to its own stdout: one stream
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: dict[str, float] = {}
    out: list[str] = []

    def read_output():
        for text in proc.stdout:
            out.append(text)
            for name, pattern in (marks or {}).items():
                if name not in seen and pattern.search(text):
                    seen[name] = time.monotonic() - t0
            if killer is not None:
                killer.line(text)

    readers = [threading.Thread(target=read_output, daemon=True)]
    if killer is not None:
        readers.append(threading.Thread(target=killer.watch, args=(proc, t0), daemon=True))
    for t in readers:
        t.start()
    try:
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    for t in readers:
        t.join(timeout=60)
    log.write_text("".join(out))
    return Submitted(proc.returncode, "".join(out), round(time.monotonic() - t0, 1), seen)


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
def test_a_lost_executor_changes_no_byte_of_the_reference_run(reference, engine_zip, executor_python, tmp_path):
    """jobs/pipeline.py on the reference input (every cohort, the model trained again) with one executor
    SIGKILLed once, after the first cohort, while the patient facts and risk scores are cached on the
    executors: the lost share must be recomputed from lineage. It exits 0 and every worklist, summary
    page, the model card and the manifest (less timings) equal the in-process reference run's byte for
    byte: another process, another parallelism (two one-core executors), the same bytes."""
    killer = Killer(FIRST_COHORT_DONE)
    out = tmp_path / "out"
    res = submit(["jobs/pipeline.py", "--input", str(reference.data), "--as-of", AS_OF, "--out", str(out)],
                 py_files=engine_zip, executor_python=executor_python, log=tmp_path / "pipeline.log", killer=killer,
                 marks={"ingest started": INGEST_STARTED, "ingest done": INGEST_DONE})
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
