"""Why a Spark run failed, in one line an on-call engineer can act on.

A failed job reaches Python as ``Py4JJavaError: An error occurred while calling o8825.parquet`` with
the real cause buried in Java stack text (or in a pyspark ``CapturedException``). ``describe`` reads
the whole exception chain and recognises the failures a production run meets: an executor lost,
memory exhausted, a full disk, an unreadable input file, a crashed Python worker, executors that
cannot import the engine, the driver JVM gone. Each gives the cause, what to change, and where the
log is.

Java messages can quote the row being processed (names, NHS numbers, birth dates) and this line is
printed to logs, so only exception class names, error classes, executor ids, exit codes and file
paths are taken from them; the fallback line has quoted values, dates and long numbers masked.
"""
from __future__ import annotations

import re

MAX_CHARS = 300
UNKNOWN_MESSAGE_CHARS = 200

# A Java exception line: "org.apache.spark.SparkException: message" (after py4j's ": " prefix or
# a "Caused by: "), the message optional.
_JAVA_LINE = re.compile(r"^(?::\s*|Caused by:\s*)?((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*)(?::\s?(.*))?$", re.M)
_PATHLIKE = re.compile(r"^(?:[a-zA-Z][\w+.-]*:)?/")
_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")


def describe(exc: BaseException) -> str:
    """One line, at most ~300 characters: cause — what to do; where the log is."""
    try:
        return _describe(exc)
    except Exception:  # noqa: BLE001 — called while handling a failure: it must not raise one of its own
        return type(exc).__name__


def _describe(exc: BaseException) -> str:
    chain = _chain(exc)
    text = "\n".join(f"{type(e).__name__}: {t}" for e, t in chain)
    for recognise in (_disk_full, _out_of_memory, _python_crash, _missing_module, _lost_checkpoint, _lost_shuffle,
                      _input_unreadable, _file_access, _executor_lost, _driver_gone):
        found = recognise(text)
        if found:
            cause, hint = found
            return _fit(cause, hint, _where())
    return _unknown(exc, chain[0][1])


# --- reading the chain ---------------------------------------------------------------------------

def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """(exception, its text) for the whole chain: Python causes and pyspark's converted JVM causes."""
    out, seen, todo = [], set(), [exc]
    while todo and len(seen) < 16:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        out.append((e, _text(e)))
        todo += [getattr(e, "_cause", None), e.__cause__, e.__context__]
    return out


def _text(e: BaseException) -> str:
    desc, stack = getattr(e, "_desc", None), getattr(e, "_stackTrace", None)
    if isinstance(desc, str):
        # pyspark CapturedException: its str() asks the JVM whether to append the stack trace
        return f"{desc}\n{stack or ''}"
    try:
        return str(e)
    except Exception as unrendered:  # noqa: BLE001 — py4j renders a Java exception through the gateway
        # which fails when the driver JVM is gone: that failure is the cause worth reporting
        return f"{getattr(e, 'errmsg', '')}\n{type(unrendered).__name__}: {unrendered}"


# --- recognisers: each returns (cause, hint) or None ---------------------------------------------

def _disk_full(text: str):
    if not re.search(r"No space left on device|ENOSPC", text):
        return None
    m = re.search(r"No space left on device: '([^'\n]+)'", text)
    where = f" writing {_short(m.group(1))}" if m else ""
    return (f"disk full (No space left on device{where})",
            f"free disk in spark.local.dir ({_conf('spark.local.dir', '/tmp')}: shuffle and spill files) "
            "and on the --out filesystem")


# the JVM's own OutOfMemoryError reasons; anything else after the colon is not repeated
_OOM = re.compile(r"(?:java\.lang\.)?OutOfMemoryError(?:: (Java heap space|GC overhead limit exceeded|Direct buffer "
                  r"memory|Metaspace|unable to create native thread|Requested array size exceeds VM limit))?|"
                  r"SparkOutOfMemoryError|"
                  r"Container killed .{0,120}memory|exceed\w* (?:physical |virtual )?memory limits?|OOMKilled|"
                  r"Unable to acquire \d+ bytes of memory|^MemoryError\b", re.M)


def _out_of_memory(text: str):
    m = _OOM.search(text)
    if not m:
        return None
    if re.search(r"Container killed|memory limits?|OOMKilled", m.group(0)):
        return ("out of memory (executor container killed for exceeding its memory limit)",
                "raise spark.executor.memoryOverhead or --executor-memory")
    what = "SparkOutOfMemoryError" if "SparkOutOfMemoryError" in m.group(0) or "Unable to acquire" in m.group(0) \
        else "Python MemoryError" if m.group(0).startswith("MemoryError") \
        else f"java.lang.OutOfMemoryError{': ' + m.group(1).strip() if m.group(1) else ''}"
    if re.search(r"Lost task|executor \d+\)|ExecutorLostFailure", text) and "executor driver" not in text:
        return (f"out of memory in an executor ({what})",
                "raise --executor-memory / spark.executor.memory, or spark.sql.shuffle.partitions")
    return (f"out of memory in the driver ({what})",
            "raise --driver-memory (local mode runs every task in the driver) / spark.executor.memory on a cluster")


def _python_crash(text: str):
    if "Python worker exited unexpectedly" not in text:
        return None
    return ("Python worker exited unexpectedly (crashed)",
            "usually memory: raise spark.executor.memoryOverhead (Python runs outside the JVM heap); "
            "see the executor's stderr")


def _missing_module(text: str):
    m = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", text)
    if not m:
        return None
    module = m.group(1)
    if module.split(".")[0] == "engine":
        return (f"executors cannot import the engine (No module named '{module}')",
                "ship it: spark-submit --py-files dist/casefind-engine.zip (jobs/build_pyfiles.sh)")
    return (f"a Python worker lacks a library (No module named '{module}')",
            "install it into the Python that PYSPARK_PYTHON names on every node")


def _lost_checkpoint(text: str):
    if not re.search(r"CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND|Checkpoint block \S+ not found", text):
        return None
    return ("an executor was lost holding local-checkpoint blocks (CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND), "
            "which Spark cannot recompute",
            "rerun; code that calls localCheckpoint() should persist() instead so a lost executor is survivable")


def _lost_shuffle(text: str):
    if not re.search(r"FetchFailed|MetadataFetchFailedException|Missing an output location for shuffle|"
                     r"FileNotFoundException: \S*(?:blockmgr-|shuffle_\d)", text):
        return None
    return ("shuffle output lost (FetchFailedException: an executor died or its local dir was cleaned)",
            "Spark recomputes lost shuffle output; if it keeps failing, check executors are not being "
            "killed (memory) and spark.local.dir is not purged mid-run")


def _input_unreadable(text: str):
    # Spark wraps every failed file read in FAILED_READ_FILE (with the path); the rest are read
    # failures raised before or outside a scan.
    if not re.search(r"FAILED_READ_FILE|PATH_NOT_FOUND|Path does not exist|not a gzip file|Not in GZIP format|"
                     r"Unexpected end of input stream|java\.io\.FileNotFoundException|AccessControlException", text):
        return None
    reasons = (
        (r"not a gzip file|Not in GZIP format", "is not gzip though named .gz"),
        (r"EOFException|Unexpected end of (?:input stream|ZLIB input stream|file)", "is truncated (unexpected end of file)"),
        (r"Permission denied|AccessControlException", "is not readable (permission denied)"),
        (r"Path does not exist|PATH_NOT_FOUND|FileNotFoundException", "was not found (moved or deleted during the run?)"),
    )
    reason = next((label for pattern, label in reasons if re.search(pattern, text)), "could not be read")
    path = _path(text)
    return (f"input unreadable: {_short(path) if path else 'a file'} {reason}",
            "check the file is complete and readable by the Spark user, or move it out of the input folder")


def _file_access(text: str):
    m = re.search(r"\[Errno (2|13)\] (No such file or directory|Permission denied)(?:: '([^'\n]+)')?", text)
    if not m:
        return None
    path = f" {_short(m.group(3))}" if m.group(3) else ""
    return (f"file not accessible:{path} ({m.group(2).lower()})",
            "check the path and its permissions (the input, and --out with its parent folder)")


_EXECUTOR_LOST = re.compile(r"ExecutorLostFailure|Lost executor|Executor heartbeat timed out|"
                            r"Master removed our application|failed \d+ times; removing it|"
                            r"All masters are unresponsive|Executor \S+ (?:exited|lost)")


def _executor_lost(text: str):
    if not _EXECUTOR_LOST.search(text):
        return None
    details = []
    m = re.search(r"ExecutorLostFailure \(executor (\S+) exited", text) or re.search(r"Lost executor (\S+)", text)
    if m:
        details.append(f"executor {m.group(1)}")
    code = re.search(r"exit(?:ed)?(?: with)? (?:code|status) (\d+)", text)
    if code:
        details.append(f"exit code {code.group(1)}" + (": killed, often by the OS for memory"
                                                      if code.group(1) == "137" else ""))
    times = re.search(r"Task \S+ in stage \S+ failed (\d+) times", text)
    if times:
        details.append(f"a task failed {times.group(1)} times")
    return (f"executor lost (ExecutorLostFailure{': ' + ', '.join(details) if details else ''})",
            "Spark reruns a lost executor's tasks up to spark.task.maxFailures; failing anyway means executors "
            "keep dying: check worker memory and the executors' stderr")


def _driver_gone(text: str):
    if re.search(r"Py4JNetworkError|Answer from Java side is empty|Error while (?:receiving|sending)", text):
        return ("the Spark driver JVM stopped mid-run",
                "often killed for memory: raise --driver-memory; the driver log says why")
    if re.search(r"SparkContext was shut down|Cannot call methods on a stopped SparkContext", text):
        return ("Spark stopped the application mid-run (SparkContext shut down)",
                "the driver log says why: the cluster manager removing it after repeated executor failures, "
                "or the driver killed for memory (raise --driver-memory)")
    return None


# --- pieces -------------------------------------------------------------------------------------

def _path(text: str) -> str | None:
    for pattern in (r"while reading file (\S+?)\.?\s", r"Path does not exist: (\S+?)\.?(?:\s|$)",
                    r"FileNotFoundException: (?:File )?(\S+)", r"(?:No such file or directory|Permission denied): '([^'\n]+)'",
                    r"inode=\"([^\"\n]+)\""):
        m = re.search(pattern, text)
        if m and _PATHLIKE.match(m.group(1)):
            return m.group(1)
    return None


def _short(path: str, keep: int = 90) -> str:
    return path if len(path) <= keep else "..." + path[-(keep - 3):]


def _active_context():
    try:
        from pyspark import SparkContext
        return SparkContext._active_spark_context
    except Exception:  # noqa: BLE001 — no pyspark, or a context half torn down
        return None


def _conf(key: str, default: str) -> str:
    sc = _active_context()
    try:
        return sc.getConf().get(key, default) if sc is not None else default
    except Exception:  # noqa: BLE001 — the JVM may be the thing that failed
        return default


def _where() -> str:
    parts = ["log: the Spark driver log on stderr"]
    sc = _active_context()
    if sc is not None:
        try:
            parts.append(f"app {sc.applicationId}")
            conf = sc.getConf()
            if conf.get("spark.eventLog.enabled", "false").lower() == "true":
                parts.append(f"event log {conf.get('spark.eventLog.dir', 'file:/tmp/spark-events')}")
        except Exception:  # noqa: BLE001 — the JVM may be gone; stderr still has the driver log
            pass
    return ", ".join(parts)


def _fit(cause: str, hint: str, where: str) -> str:
    line = f"{cause} — {hint}; {where}"
    if len(line) > MAX_CHARS:
        line = f"{cause} — {hint}"[:MAX_CHARS - len(where) - 5].rstrip() + "...; " + where
    return line[:MAX_CHARS]


def _scrub(text: str) -> str:
    """Mask what may be record data: quoted values (paths kept), ISO dates, NHS-number-like digits."""
    def quoted(m: re.Match) -> str:
        value = m.group(1) if m.group(1) is not None else m.group(2)
        return m.group(0) if _PATHLIKE.match(value) else "<value>"
    text = _QUOTED.sub(quoted, text)
    text = re.sub(r"\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+Z?)?\b", "<date>", text)
    return re.sub(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b|\b\d{7,}\b", "<number>", text)


def _unknown(exc: BaseException, own_text: str) -> str:
    name, message = type(exc).__name__, _first_line(own_text)
    if "An exception was thrown from the Python worker" in own_text:
        # pyspark PythonException: the useful line is the last of the worker's traceback
        last = re.findall(r"^(\w+(?:Error|Exception)): ?(.*)$", own_text, re.M)
        if last:
            name, message = f"{name} ({last[-1][0]})", last[-1][1]
    elif re.match(r"An error occurred while calling", message):
        java = _JAVA_LINE.search(own_text)
        if java:
            name, message = java.group(1).rsplit(".", 1)[-1], java.group(2) or ""
    message = _scrub(message.strip())[:UNKNOWN_MESSAGE_CHARS]
    return f"{name}: {message}" if message else name


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")
