"""engine.failures.describe: a Spark failure becomes one actionable line with no record contents.

Most cases are Py4JJavaErrors built around Java stack text shaped like Spark 4's (py4j renders it
through the gateway, faked here); the last tests provoke real failures on the suite's session.
"""
from __future__ import annotations

import gzip

import pytest
from py4j.protocol import Py4JJavaError, Py4JNetworkError, escape_new_line
from pyspark import SparkContext

from engine.failures import MAX_CHARS, describe

# Identifiable values planted in messages: none may reach the line.
NAME, NHS, DOB = "Ermintrude Smallbone", "943 476 5919", "1950-03-02"
PII = (NAME, NHS, NHS.replace(" ", ""), DOB, "Ermintrude")

STACK = """
\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2935)
\tat org.apache.spark.scheduler.DAGScheduler.$anonfun$abortStage$2(DAGScheduler.scala:2871)
\tat org.apache.spark.sql.execution.datasources.FileFormatWriter$.write(FileFormatWriter.scala:271)
\tat org.apache.spark.sql.DataFrameWriter.parquet(DataFrameWriter.scala:793)
\tat java.base/java.lang.Thread.run(Thread.java:840)"""


class _Gateway:
    """Answers py4j's 'render this exception' command the way the JVM does, or not at all."""

    def __init__(self, text: str | None):
        self.text = text

    def send_command(self, command):
        if self.text is None:
            raise Py4JNetworkError("Answer from Java side is empty")
        return "ys" + escape_new_line(self.text)


class _JavaThrowable:
    def __init__(self, text: str | None):
        self._target_id = "o8826"
        self._gateway_client = _Gateway(text)


def java_error(java_text: str | None, call: str = "o8825.parquet") -> Py4JJavaError:
    return Py4JJavaError(f"An error occurred while calling {call}.\n", _JavaThrowable(java_text))


def job_aborted(task_failure: str, caused_by: str = "") -> Py4JJavaError:
    return java_error(
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 3 in stage 41.0 failed 4 times, "
        f"most recent failure: Lost task 3.3 in stage 41.0 (TID 212) (10.1.4.7 executor 5): {task_failure}"
        + STACK + "\nDriver stacktrace:" + STACK + (f"\nCaused by: {caused_by}" + STACK if caused_by else ""))


@pytest.fixture
def no_context(monkeypatch):
    monkeypatch.setattr(SparkContext, "_active_spark_context", None)


def assert_one_safe_line(line: str):
    assert "\n" not in line and 0 < len(line) <= MAX_CHARS, line
    for value in PII:
        assert value not in line, line
    assert "An error occurred while calling" not in line and "o8825" not in line, line


def test_executor_lost_names_executor_exit_code_and_retries(no_context):
    line = describe(job_aborted(
        "ExecutorLostFailure (executor 5 exited caused by one of the running tasks) Reason: Command exited with code 137"))
    assert_one_safe_line(line)
    assert line.startswith("executor lost (ExecutorLostFailure: executor 5, exit code 137"), line
    assert "failed 4 times" in line and "spark.task.maxFailures" in line
    assert line.endswith("log: the Spark driver log on stderr")


def test_heartbeat_timeout_is_an_executor_loss(no_context):
    line = describe(job_aborted("ExecutorLostFailure (executor 2 exited unrelated to the running tasks) "
                                "Reason: Executor heartbeat timed out after 161008 ms"))
    assert_one_safe_line(line)
    assert line.startswith("executor lost (ExecutorLostFailure: executor 2"), line


def test_executor_heap_exhausted_says_executor_memory(no_context):
    line = describe(job_aborted(f"java.lang.OutOfMemoryError: Java heap space while decoding '{NAME}'"))
    assert_one_safe_line(line)
    assert line.startswith("out of memory in an executor (java.lang.OutOfMemoryError: Java heap space)"), line
    assert "--executor-memory" in line


def test_container_killed_for_memory_is_memory_not_a_plain_executor_loss(no_context):
    line = describe(job_aborted(
        "ExecutorLostFailure (executor 7 exited caused by one of the running tasks) Reason: Container killed by YARN "
        "for exceeding physical memory limits. 5.5 GB of 5.5 GB physical memory used. "
        "Consider boosting spark.executor.memoryOverhead."))
    assert_one_safe_line(line)
    assert line.startswith("out of memory (executor container killed"), line
    assert "spark.executor.memoryOverhead" in line


def test_local_mode_memory_exhaustion_points_at_the_driver(no_context):
    err = java_error(
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 2 in stage 3.0 failed 1 times, most "
        "recent failure: Lost task 2.0 in stage 3.0 (TID 9) (127.0.0.1 executor driver): "
        "org.apache.spark.memory.SparkOutOfMemoryError: [UNABLE_TO_ACQUIRE_MEMORY] Unable to acquire 65536 bytes of "
        "memory, got 0. SQLSTATE: 53200" + STACK)
    line = describe(err)
    assert_one_safe_line(line)
    assert line.startswith("out of memory in the driver (SparkOutOfMemoryError)"), line
    assert "--driver-memory" in line


def test_disk_full_in_spill_points_at_spark_local_dir(no_context):
    line = describe(job_aborted(
        "org.apache.spark.SparkException: [TASK_WRITE_FAILED] Task failed while writing rows to file:/out/canonical.",
        caused_by="java.io.IOException: No space left on device"))
    assert_one_safe_line(line)
    assert line.startswith("disk full (No space left on device)"), line
    assert "spark.local.dir (/tmp" in line


def test_disk_full_on_the_driver_names_the_file(no_context):
    line = describe(OSError(28, "No space left on device", "/srv/casefind/.out.partial-71/PCN01/smr.csv"))
    assert_one_safe_line(line)
    assert line.startswith("disk full (No space left on device writing /srv/casefind/.out.partial-71/PCN01/smr.csv)")


@pytest.mark.parametrize("java_text, expected", [
    ("org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
     "file:///data/in/Patient.003.ndjson.gz.  SQLSTATE: KD001" + STACK
     + "\nCaused by: java.io.EOFException: Unexpected end of input stream" + STACK,
     "input unreadable: file:///data/in/Patient.003.ndjson.gz is truncated"),
    ("org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
     "file:///data/in/Bundle-17.json.gz.  SQLSTATE: KD001" + STACK
     + "\nCaused by: java.io.IOException: not a gzip file" + STACK,
     "input unreadable: file:///data/in/Bundle-17.json.gz is not gzip"),
    ("org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error while reading file "
     "file:///data/in/Observation.ndjson.  SQLSTATE: KD001" + STACK
     + "\nCaused by: java.io.FileNotFoundException: /data/in/Observation.ndjson (Permission denied)" + STACK,
     "input unreadable: file:///data/in/Observation.ndjson is not readable (permission denied)"),
    ("org.apache.spark.SparkException: [FAILED_READ_FILE.FILE_NOT_EXIST] File file:/data/in/Condition.ndjson "
     "does not exist. It is possible the underlying files have been updated." + STACK
     + "\nCaused by: java.io.FileNotFoundException: File file:/data/in/Condition.ndjson does not exist" + STACK,
     "input unreadable: file:/data/in/Condition.ndjson was not found"),
])
def test_unreadable_input_names_the_file_and_why(no_context, java_text, expected):
    line = describe(java_error(java_text, "o61.count"))
    assert_one_safe_line(line)
    assert line.startswith(expected), line
    assert "readable by the Spark user" in line


def test_lost_local_checkpoint_says_it_cannot_be_recomputed(no_context):
    # as a killed executor left it when ingest used localCheckpoint (tests/test_cluster.py)
    line = describe(job_aborted(
        "org.apache.spark.SparkException: [CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND] Checkpoint block rdd_21_0 not found! "
        "Either the executor that originally checkpointed this partition is no longer alive, or the original RDD "
        "is unpersisted. If this problem persists, you may consider using `rdd.checkpoint()` instead, which is "
        "slower than local checkpointing but more fault-tolerant. SQLSTATE: 56000"))
    assert_one_safe_line(line)
    assert line.startswith("an executor was lost holding local-checkpoint blocks"), line
    assert "persist()" in line


def test_python_worker_crash_wins_over_the_socket_eof_it_causes(no_context):
    line = describe(job_aborted("org.apache.spark.SparkException: Python worker exited unexpectedly (crashed)",
                                caused_by="java.io.EOFException"))
    assert_one_safe_line(line)
    assert line.startswith("Python worker exited unexpectedly (crashed)"), line
    assert "memoryOverhead" in line


def test_executors_without_the_engine_are_told_about_py_files(no_context):
    worker = ("org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n"
              '  File "/opt/spark/python/lib/pyspark.zip/pyspark/serializers.py", line 471, in loads\n'
              "    return cloudpickle.loads(obj, encoding=encoding)\n"
              "ModuleNotFoundError: No module named 'engine'\n")
    line = describe(job_aborted(worker))
    assert_one_safe_line(line)
    assert line.startswith("executors cannot import the engine"), line
    assert "--py-files" in line


def test_driver_jvm_gone_is_said_plainly_even_though_py4j_cannot_render_the_error(no_context):
    err = java_error(None)
    try:
        raise RuntimeError("pipeline stage failed") from err
    except RuntimeError as outer:
        wrapped = outer
    line = describe(Py4JNetworkError("Answer from Java side is empty"))
    assert_one_safe_line(line)
    assert line.startswith("the Spark driver JVM stopped mid-run"), line
    # a Java error py4j can no longer render means the JVM behind it is gone
    assert describe(wrapped).startswith("the Spark driver JVM stopped mid-run")


def test_application_stopped_under_the_run_is_not_called_a_dead_jvm(no_context):
    line = describe(java_error("org.apache.spark.SparkException: Job 212 cancelled because SparkContext was shut down"
                               + STACK, "o9120.collectToPython"))
    assert_one_safe_line(line)
    assert line.startswith("Spark stopped the application mid-run (SparkContext shut down)"), line


def test_cause_found_through_the_python_chain(no_context):
    try:
        try:
            raise job_aborted("java.lang.OutOfMemoryError: GC overhead limit exceeded")
        except Py4JJavaError as inner:
            raise RuntimeError("writing worklists failed") from inner
    except RuntimeError as outer:
        line = describe(outer)
    assert line.startswith("out of memory in an executor (java.lang.OutOfMemoryError: GC overhead limit exceeded)")


def test_unknown_java_failure_is_its_class_and_first_line_with_values_masked(no_context):
    err = java_error(
        f"org.apache.spark.SparkDateTimeException: [CAST_INVALID_INPUT] The value '{NAME}' of the type \"STRING\" "
        f"cannot be cast to \"DATE\" because it is malformed. Row: {NHS}, {DOB}, {NHS.replace(' ', '')}" + STACK)
    line = describe(err)
    assert_one_safe_line(line)
    assert line.startswith("SparkDateTimeException: [CAST_INVALID_INPUT] The value <value> of the type <value> "
                           "cannot be cast"), line
    assert "<number>" in line and "<date>" in line


def test_unknown_python_failure_keeps_paths_and_is_capped():
    assert describe(ValueError("features_df lacks the model's input column(s): age_band")) == \
        "ValueError: features_df lacks the model's input column(s): age_band"
    line = describe(KeyError("/srv/casefind/conf/cohorts/smr.yaml"))
    assert line == "KeyError: '/srv/casefind/conf/cohorts/smr.yaml'"
    long = describe(RuntimeError("x" * 500 + "\nsecond line"))
    assert long == "RuntimeError: " + "x" * 200


def test_where_names_the_application_and_event_log(monkeypatch):
    class Conf(dict):
        def get(self, key, default=None):
            return super().get(key, default)

    class Context:
        applicationId = "app-20260331020000-0042"

        def getConf(self):
            return Conf({"spark.eventLog.enabled": "true", "spark.eventLog.dir": "hdfs:///spark-history",
                         "spark.local.dir": "/scratch/spark"})

    monkeypatch.setattr(SparkContext, "_active_spark_context", Context())
    line = describe(job_aborted("ExecutorLostFailure (executor 5 exited caused by one of the running tasks) "
                                "Reason: Remote RPC client disassociated.",
                                caused_by="java.io.IOException: No space left on device"))
    assert_one_safe_line(line)
    assert "spark.local.dir (/scratch/spark" in line
    assert line.endswith("log: the Spark driver log on stderr, app app-20260331020000-0042, "
                         "event log hdfs:///spark-history"), line


# --- real failures on the suite's session ---------------------------------------------------------

def test_real_non_gzip_file_named_gz(spark, tmp_path):
    bad = tmp_path / "Patient.000.json.gz"
    bad.write_text(f'{{"resourceType": "Patient", "name": [{{"text": "{NAME}"}}], "birthDate": "{DOB}"}}\n')
    with pytest.raises(Exception) as caught:
        spark.read.text(str(bad)).count()
    line = describe(caught.value)
    assert_one_safe_line(line)
    assert line.startswith(f"input unreadable: file://{bad} is not gzip though named .gz"), line
    assert line.endswith(f"app {spark.sparkContext.applicationId}")


def test_real_truncated_gzip(spark, tmp_path):
    whole = gzip.compress(("".join(f'{{"resourceType": "Patient", "id": "p{i}", "name": "{NAME}"}}\n'
                                   for i in range(2000))).encode())
    cut = tmp_path / "Patient.ndjson.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(Exception) as caught:
        spark.read.text(str(cut)).count()
    line = describe(caught.value)
    assert_one_safe_line(line)
    assert line.startswith(f"input unreadable: file://{cut} is truncated (unexpected end of file)"), line


def test_real_missing_input_folder(spark, tmp_path):
    with pytest.raises(Exception) as caught:
        spark.read.text(str(tmp_path / "gone")).count()
    line = describe(caught.value)
    assert_one_safe_line(line)
    assert line.startswith(f"input unreadable: file:{tmp_path / 'gone'} was not found"), line
