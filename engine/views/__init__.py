"""SQL on FHIR v2 ViewDefinitions compiled to PySpark column expressions.

    from engine.views import run_view
    df = run_view(spark, view, resources)      # resources: list[dict] | DataFrame of JSON text

    cv = compile_view(view)                     # the schema, the rows expression, the where filter
    rows = select_rows(parsed, cv)              # over a DataFrame whose ROOT column holds the resource

What is supported (the specification's shareable profile): ``select`` / ``column``, ``forEach``,
``forEachOrNull``, ``repeat``, ``unionAll``, ``where``, ``constant``, and FHIRPath paths, indexers,
``where``, ``exists``, ``empty``, ``first``, ``last``, ``count``, ``not``, ``ofType``, ``join``,
``extension``, ``getResourceKey``, ``getReferenceKey``, ``lowBoundary`` / ``highBoundary``,
``%rowIndex``, comparison, arithmetic and boolean operators. Anything else is a ``ViewError`` when
the view is compiled, never a wrong answer at run time. Conformance: tests/test_sql_on_fhir.py runs
the official suite and writes benchmarks/sql_on_fhir_report.json.
"""
from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from engine.views.compile import ROOT, CompiledView, ViewError, compile_view

__all__ = ["run_view", "compile_view", "select_rows", "parse_resources", "CompiledView", "ViewError", "ROOT"]


def parse_resources(df: DataFrame, cv: CompiledView, text_col: str) -> DataFrame:
    """``df`` with the resource parsed into ``ROOT`` by the view's schema, only the view's type kept."""
    parsed = df.withColumn(ROOT, F.from_json(F.col(text_col), cv.schema))
    return parsed.where(F.col(ROOT).getField("resourceType") == cv.resource)


def select_rows(parsed: DataFrame, cv: CompiledView, keep: tuple[str, ...] = ()) -> DataFrame:
    """The view's rows over resources already parsed into ``ROOT`` (``keep``: columns carried along)."""
    if cv.where is not None:
        parsed = parsed.where(cv.where)
    if cv.rows.many:
        return parsed.select(*keep, F.inline(cv.rows.col))
    return parsed.select(*keep, cv.rows.col.alias("__row")).select(*keep, "__row.*")


def run_view(spark: SparkSession, view: dict, resources: DataFrame | list[dict], *, strict: bool = False) -> DataFrame:
    """The rows of ``view`` over ``resources``: a list of resources as dicts, or a DataFrame with
    each resource's JSON text in a column ``json`` (or in its only column)."""
    cv = compile_view(view, strict=strict)
    if isinstance(resources, DataFrame):
        text_col = "json" if "json" in resources.columns else resources.columns[0]
        df = resources.select(F.col(text_col).alias("json"))
    else:
        df = spark.createDataFrame([(json.dumps(r),) for r in resources], "json string")
    return select_rows(parse_resources(df, cv, "json"), cv)
