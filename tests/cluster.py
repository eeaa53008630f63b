"""Running the jobs under spark-submit on a local cluster, with an executor killer (tests/test_cluster.py).

Every Spark application here runs in its own process tree (a JVM hosts one SparkContext and the
suite's session is local[2]). Under spark-submit the executors run a Python that has pandas, pyarrow
and scikit-learn but not casefind, like a cluster node (``node_python``): any engine code they run
came in the --py-files zip (``build_engine_zip``).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from reference import AS_OF

REPO = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
SPARK_SUBMIT = PYTHON.parent / "spark-submit"
PROFILE = REPO / "conf" / "spark" / "local-cluster.conf"
MASTER = "local-cluster[2,1,1024]"

# engine log lines the executor killer waits for (engine/pipeline.py)
INGEST_STARTED = re.compile(r"ingest: reading ")
INGEST_DONE = re.compile(r"ingest: \d+ patients")
FIRST_COHORT_DONE = re.compile(r"cohort 1/\d+ \S+: \d+ listed")


def build_engine_zip(out: Path) -> Path:
    """jobs/build_pyfiles.sh: the engine packed for --py-files."""
    res = subprocess.run([str(REPO / "jobs" / "build_pyfiles.sh"), str(out)], capture_output=True, text=True,
                         env={**os.environ, "PYTHON": sys.executable}, timeout=120)
    assert res.returncode == 0, res.stderr
    return out


def node_python(home: Path) -> Path:
    """A Python with this venv's libraries but not its editable casefind install (a cluster node)."""
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


class Submission:
    """One spark-submit application running in the background: ``wait()`` gives its ``Submitted``."""

    def __init__(self, proc: subprocess.Popen, readers: list[threading.Thread], out: list[str],
                 seen: dict[str, float], t0: float, log: Path):
        self.proc, self.readers, self.out, self.seen, self.t0, self.log = proc, readers, out, seen, t0, log
        self.done: Submitted | None = None

    def wait(self, timeout: float = 900) -> Submitted:
        if self.done is None:
            try:
                self.proc.wait(timeout=timeout)
            finally:
                if self.proc.poll() is None:
                    self.proc.kill()
            for t in self.readers:
                t.join(timeout=60)
            self.log.write_text("".join(self.out))
            self.done = Submitted(self.proc.returncode, "".join(self.out), round(time.monotonic() - self.t0, 1),
                                  self.seen)
        return self.done


def submit(args: list[str], **kwargs) -> Submitted:
    return start(args, **kwargs).wait()


def start(args: list[str], *, py_files: Path, executor_python: Path, log: Path, master: str = MASTER,
          killer: Killer | None = None, marks: dict[str, re.Pattern] | None = None) -> Submission:
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
    return Submission(proc, readers, out, seen, t0, log)


class ReferenceRerun:
    """jobs/pipeline.py on the reference input under spark-submit, with one executor killed after the
    first cohort; started at the beginning of the test session (tests/conftest.py) so that it runs
    beside the in-process tests, and awaited by tests/test_cluster.py."""

    def __init__(self, data: Path, base: Path):
        self.data, self.out = data, base / "out"
        self.engine_zip = build_engine_zip(base / "casefind-engine.zip")
        self.executor_python = node_python(base / "node-python")
        self.killer = Killer(FIRST_COHORT_DONE)
        self.submission = start(["jobs/pipeline.py", "--input", str(data), "--as-of", AS_OF.isoformat(),
                                 "--out", str(self.out)],
                                py_files=self.engine_zip, executor_python=self.executor_python,
                                log=base / "pipeline.log", killer=self.killer,
                                marks={"ingest started": INGEST_STARTED, "ingest done": INGEST_DONE})

    def wait(self) -> Submitted:
        return self.submission.wait()

    def stop(self) -> None:
        if self.submission.proc.poll() is None:
            self.submission.proc.kill()
            self.submission.wait(timeout=60)
