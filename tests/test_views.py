"""The FHIR → canonical mapping as ViewDefinitions (conf/views): a site adapts a view, not code;
a broken view is refused in one line naming it; ``casefind view`` writes a view's rows; the schema
comes from the FHIR model, not from the data."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from pyspark.sql import types as T

from engine.config import ConfigError, conf_dir
from engine.ingest import ingest
from engine.ingest.fhir_views import REQUIRED, load_views
from engine.views import ViewError, run_view
from test_ingest import SCT, obs, patient, rows, write_ndjson

SUPPLIER_NHS = "https://supplier.example/Id/nhs-no"


def _views_copy(tmp_path):
    folder = tmp_path / "views"
    shutil.copytree(conf_dir() / "views", folder)
    return folder


def test_every_required_column_is_in_the_shipped_views(spark):
    views = load_views()
    assert set(views) == set(REQUIRED)
    for rtype, v in views.items():
        assert set(REQUIRED[rtype]) <= set(v.view.columns), rtype


def test_a_site_reads_the_nhs_number_from_its_suppliers_system_by_editing_the_view(spark, tmp_path):
    """README's worked example: the supplier writes the NHS number under its own identifier system."""
    src = tmp_path / "in"
    src.mkdir()
    p = patient("p1")
    p["identifier"] = [{"system": SUPPLIER_NHS, "value": "943 476 5919"}]
    write_ndjson(src / "Patient.ndjson", [p])

    shipped = ingest(spark, src, None, tmp_path / "out1")
    assert rows(shipped.tables["patients"], "patient_id", "nhs_number") == [("p1", None)]

    folder = _views_copy(tmp_path)
    view_file = folder / "patients.Patient.json"
    view = json.loads(view_file.read_text())
    for c in view["constant"]:
        if c["name"] == "nhs_number":
            c["valueUri"] = SUPPLIER_NHS
    view_file.write_text(json.dumps(view, indent=2))
    adapted = ingest(spark, src, None, tmp_path / "out2", view_dir=folder)
    assert rows(adapted.tables["patients"], "patient_id", "nhs_number") == [("p1", "9434765919")]


def _edit(folder, name, fn):
    path = folder / name
    view = json.loads(path.read_text())
    fn(view)
    path.write_text(json.dumps(view))


def test_a_view_with_an_element_its_resource_does_not_have_is_refused(spark, tmp_path):
    folder = _views_copy(tmp_path)
    _edit(folder, "events.Observation.json",
          lambda v: v["select"][0]["column"].append({"name": "oops", "path": "efective.ofType(dateTime)"}))
    with pytest.raises(ConfigError, match=r"events\.Observation\.json: Observation has no element 'efective'"):
        load_views(folder)


def test_a_view_without_a_column_ingest_reads_is_refused(spark, tmp_path):
    folder = _views_copy(tmp_path)
    _edit(folder, "events.Procedure.json",
          lambda v: v["select"][0]["column"].pop(1))      # status
    with pytest.raises(ConfigError, match=r"events\.Procedure\.json: ingest needs column\(s\) status"):
        load_views(folder)


def test_a_view_named_for_another_type_is_refused(spark, tmp_path):
    folder = _views_copy(tmp_path)
    (folder / "events.Procedure.json").rename(folder / "events.Condition2.json")
    with pytest.raises(ConfigError, match="file name says Condition2 but the view reads Procedure"):
        load_views(folder)


def test_the_schema_comes_from_the_model_not_the_data(spark):
    """No resource holds a birthDate or a boolean: the columns are still there, with the model's types."""
    view = {"resource": "Patient", "select": [{"column": [
        {"name": "id", "path": "id"}, {"name": "born", "path": "birthDate"},
        {"name": "active", "path": "active"}, {"name": "multiple", "path": "multipleBirth.ofType(integer)"}]}]}
    df = run_view(spark, view, [{"resourceType": "Patient", "id": "a"}])
    assert [(f.name, f.dataType) for f in df.schema.fields] == [
        ("id", T.StringType()), ("born", T.StringType()), ("active", T.BooleanType()),
        ("multiple", T.LongType())]
    assert [tuple(r) for r in df.collect()] == [("a", None, None, None)]


def test_a_value_that_is_not_of_its_type_is_empty_not_a_failed_job(spark):
    view = {"resource": "Patient", "select": [{"column": [
        {"name": "active", "path": "active"}, {"name": "active_text", "path": "active", "type": "string"}]}]}
    df = run_view(spark, view, [{"resourceType": "Patient", "active": "perhaps"}])
    assert [tuple(r) for r in df.collect()] == [(None, "perhaps")]


def test_unsupported_fhirpath_is_refused_when_compiled(spark):
    with pytest.raises(ViewError, match=r"aggregate\(\) is not supported"):
        run_view(spark, {"resource": "Patient", "select": [{"column": [
            {"name": "x", "path": "name.aggregate($this)"}]}]}, [])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True)


def test_casefind_view_writes_rows_from_ndjson_and_bundles(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    write_ndjson(src / "Observation.ndjson", [obs("o1", "Patient/p1", [(SCT, "271649006", "SBP")], value=141)])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:o2", "resource": obs("o2", "Patient/p2", [(SCT, "271649006", "SBP")], value=122)},
        {"fullUrl": "urn:uuid:p2", "resource": patient("p2")}]}
    (src / "bundle.json").write_text(json.dumps(bundle))
    out = tmp_path / "o" / "obs.csv"
    done = _cli("view", conf_dir() / "views" / "events.Observation.json", "--input", src, "--out", out)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    header = lines[0].split(",")
    got = sorted((r[header.index("id")], r[header.index("value")]) for r in (x.split(",") for x in lines[1:]))
    assert got == [("o1", "141"), ("o2", "122")]
    assert (out.stat().st_mode & 0o777) == 0o600

    inside = _cli("view", conf_dir() / "views" / "events.Observation.json", "--input", src, "--out", src / "x.csv")
    assert inside.returncode == 2 and "inside the input" in inside.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resource": "Observation", "select": [{"forEach": 1}]}))
    refused = _cli("view", bad, "--input", src, "--out", tmp_path / "y.csv")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == "casefind view: error: 'forEach' must be a FHIRPath string, not int"
