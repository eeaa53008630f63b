"""The jobs under spark-submit on a real (local-cluster) Spark cluster, as README "Running on a
cluster" describes: the engine shipped with --py-files, the properties in conf/spark/local-cluster.conf.

Every Spark application here runs in its own process tree (a JVM hosts one SparkContext and the
suite's session is local[2]). Under spark-submit the executors run a Python that has pandas, pyarrow
and scikit-learn but not casefind, like a cluster node: any engine code they run came in the
--py-files zip. Nearly all the time is the executor-loss test's three runs, ~150-180 s of CPU each
(mostly the driver planning hundreds of small stages: 150 patients cost as much as 400), so the
module needs several minutes even on an idle 2-core machine.
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

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
SPARK_SUBMIT = PYTHON.parent / "spark-submit"
PROFILE = REPO / "conf" / "spark" / "local-cluster.conf"
MASTER = "local-cluster[2,1,1024]"
AS_OF = "2026-03-31"
# The two cohorts the brief's runs need: hypertension (BP windows, registers) and smr (medicines,
# care homes, frailty) touch every canonical table; anticipatory_care would add model training.
COHORTS = "hypertension,smr"
PATIENTS = 400

# engine log lines the executor killer waits for (engine/pipeline.py)
INGEST_STARTED = re.compile(r"ingest: reading ")
INGEST_DONE = re.compile(r"ingest: \d+ patients")
FIRST_COHORT_DONE = re.compile(r"cohort \S* ?hypertension: \d+ listed")


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def population(tmp_path_factory) -> Path:
    from synthetic_data import generate
    out = tmp_path_factory.mktemp("cluster") / "input"
    generate(out, n_patients=PATIENTS, seed=7, fmt="fhir-ndjson", n_pcns=2)
    return out


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


def _csvs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.csv"))}


def _counts(folder: Path) -> dict:
    cohorts = json.loads((folder / "manifest.json").read_text())["cohorts"]
    return {name: {k: c[k] for k in ("listed", "by_band", "by_pcn")} for name, c in cohorts.items()}


# --- tests -------------------------------------------------------------------------------------

def test_lost_executors_do_not_change_the_worklists(population, engine_zip, executor_python, tmp_path):
    """jobs/pipeline.py undisturbed, then jobs/ingest.py and jobs/worklists.py --record with one
    executor SIGKILLed in each (mid-ingest, and mid-cohorts): both exit 0 and every CSV is the same
    byte for byte. Folds in the check that the two stage jobs equal the one-job pipeline."""
    common = dict(py_files=engine_zip, executor_python=executor_python)
    whole = submit(["jobs/pipeline.py", "--input", str(population), "--as-of", AS_OF, "--out", str(tmp_path / "whole"),
                    "--cohorts", COHORTS], log=tmp_path / "pipeline.log",
                   marks={"ingest started": INGEST_STARTED, "ingest done": INGEST_DONE}, **common)
    assert whole.returncode == 0, whole.tail()
    ingest_s = whole.marks["ingest done"] - whole.marks["ingest started"]

    # Mid-ingest, when the stages already computed live on the executors and the canonical tables
    # are not yet written: a lost executor's share must be recomputed, not found missing.
    mid_ingest = Killer(INGEST_STARTED, delay_s=0.4 * ingest_s, end=INGEST_DONE)
    record = tmp_path / "record"
    ingest = submit(["jobs/ingest.py", "--input", str(population), "--out", str(record)],
                    log=tmp_path / "ingest.log", killer=mid_ingest, **common)
    assert mid_ingest.kill is not None, f"{mid_ingest.error}\n{ingest.tail()}"
    assert ingest.returncode == 0, f"ingest failed after killing {mid_ingest.kill}:\n{ingest.tail()}"
    assert mid_ingest.kill.before_end_marker, f"the kill came after ingest had finished: {mid_ingest.kill}"
    assert "Lost executor" in ingest.output, ingest.tail()

    # After the first cohort, while the second (smr) is being evaluated from the record.
    mid_cohorts = Killer(FIRST_COHORT_DONE)
    staged = tmp_path / "staged"
    worklists = submit(["jobs/worklists.py", "--record", str(record), "--as-of", AS_OF, "--out", str(staged),
                        "--cohorts", COHORTS], log=tmp_path / "worklists.log", killer=mid_cohorts, **common)
    assert mid_cohorts.kill is not None, f"{mid_cohorts.error}\n{worklists.tail()}"
    assert worklists.returncode == 0, f"worklists failed after killing {mid_cohorts.kill}:\n{worklists.tail()}"
    assert "Lost executor" in worklists.output, worklists.tail()

    assert mid_ingest.kill.app_id != mid_cohorts.kill.app_id
    expected, got = _csvs(tmp_path / "whole"), _csvs(staged)
    assert len([p for p in expected if p.endswith("/hypertension.csv")]) == 3   # two PCNs and UNASSIGNED
    assert sorted(got) == sorted(expected)
    assert [p for p in expected if got[p] != expected[p]] == []
    assert _counts(staged) == _counts(tmp_path / "whole")
    assert sum(c["listed"] for c in _counts(staged).values()) > 0
    print(f"\npipeline {whole.seconds} s (ingest {ingest_s:.1f} s); ingest job {ingest.seconds} s, killed "
          f"{mid_ingest.kill}; worklists job {worklists.seconds} s, killed {mid_cohorts.kill}")


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
