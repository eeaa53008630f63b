"""Executors in a real (local-cluster) Spark cluster run the driver's Python and can import the engine.

Runs in its own process: a JVM hosts one SparkContext, and the suite's session is local[2].
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
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


def test_local_cluster_executors_use_the_driver_python():
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["master"].startswith("local-cluster")
    assert out["executors"] == [[out["driver"], "http://snomed.info/sct"]]
