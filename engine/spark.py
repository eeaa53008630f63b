"""One place that builds the SparkSession, from config, for jobs, the CLI and the tests."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

DEFAULTS = {
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    # local mode runs every task in the driver JVM; the facts table is built once and cached, so
    # 100,000 patients run within 3g (benchmarks/facts.py); --driver-memory changes it
    "spark.driver.memory": "4g",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}


def _submitted_settings() -> set[str]:
    """Keys spark-submit was given (--conf, --properties-file, --driver-memory ...): they win over
    the defaults here, or a cluster profile could never change them."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        return set()
    from pyspark import SparkConf, SparkContext
    SparkContext._ensure_initialized()
    return {k for k, _ in SparkConf().getAll()}


def get_spark(master: str | None = None, app_name: str = "casefind", loopback: bool = False,
              extra: dict[str, str] | None = None, java_options: str = "") -> SparkSession:
    """Build (or reuse) the session. ``loopback`` pins the driver to 127.0.0.1 (tests, laptops);
    ``java_options`` are added to the driver JVM's options (local mode only: it is started here)."""
    # Executors must run the same interpreter as the driver, or Python workers fail to import us.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit the JVM is already up (PYSPARK_GATEWAY_PORT set) and owns --master.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(master or os.environ.get("CASEFIND_MASTER", "local[*]"))
    conf = dict(DEFAULTS)
    log4j = Path(__file__).resolve().parents[1] / "conf" / "log4j2.properties"
    if log4j.is_file():
        java_options = f"-Dlog4j2.configurationFile={log4j.as_uri()} {java_options}".strip()
    if java_options:
        conf["spark.driver.extraJavaOptions"] = java_options
    if loopback:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    # CASEFIND_EVENT_LOG=DIR: write Spark's event log there (stage counts, for benchmarks and on-call)
    if os.environ.get("CASEFIND_EVENT_LOG"):
        Path(os.environ["CASEFIND_EVENT_LOG"]).mkdir(parents=True, exist_ok=True)
        conf["spark.eventLog.enabled"] = "true"
        conf["spark.eventLog.dir"] = Path(os.environ["CASEFIND_EVENT_LOG"]).resolve().as_uri()
        conf["spark.eventLog.compress"] = "false"         # plain JSON lines, readable with any tool
    conf.update(extra or {})
    for key in _submitted_settings():
        conf.pop(key, None)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
