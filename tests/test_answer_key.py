"""The answer key can disagree with the engine.

The generator's truth (truth.csv) takes its code lists from its own vocabulary (synthetic_data/codes,
drawn from the published lists), never from the engine's conf/codelists. So a code missing from a
conf list must make the end-to-end comparison fail: here one code the generator writes is removed
from a copy of conf/, the engine evaluates the suite's reference record (tests/reference.py) again with
CASEFIND_CONF pointing at the copy, and its hypertension worklist must no longer equal the truth (while
the reference run, with the shipped conf, gives exactly the truth on the same data).
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reference import AS_OF, N_PATIENTS, N_PCNS, SEED
from synthetic_data.cohorts import TRUTHS
from synthetic_data.cohorts.common import Rows
from synthetic_data.population import Population
from synthetic_data.vocab import FIXED_CODINGS, Vocab

REPO = Path(__file__).resolve().parents[1]
COHORT = "hypertension"
LIST = "hypertension"


class _Without(Vocab):
    """The generator's vocabulary with one code left out of one list (for the truth only)."""

    def __init__(self, name: str, code: str):
        super().__init__()
        self._drop = (name, code)

    def rows(self, name):
        rows = super().rows(name)
        return tuple(r for r in rows if (name, r["code"]) != self._drop)


def _truth_of(path: Path, cohort: str = COHORT) -> dict[str, str]:
    with open(path / "truth.csv", newline="", encoding="utf-8") as fh:
        return {r["patient_id"]: r["band"] for r in csv.DictReader(fh) if r["cohort"] == cohort}


def _listed(out: Path, manifest: dict, cohort: str = COHORT) -> dict[str, str]:
    rows = {}
    for pcn in manifest["pcns"]:
        with open(out / pcn / f"{cohort}.csv", newline="", encoding="utf-8-sig") as fh:
            rows.update({r["patient_id"]: r["band"] for r in csv.DictReader(fh)})
    return rows


def _truth_without(code: str, cohort: str = COHORT) -> dict[str, str]:
    """The answer key recomputed over the same population with ``code`` left out of the list (the
    records are generated with the full vocabulary, as generate() writes them)."""
    full = Vocab()
    pop = Population(SEED, N_PATIENTS, N_PCNS, AS_OF, full)
    reduced = _Without(LIST, code)
    out = {}
    for chunk in pop.chunks():
        for b in chunk:
            band = TRUTHS[cohort](b.patient, Rows.from_resources(b.patient["patient_id"], b.resources), AS_OF, reduced)
            if band:
                out[b.patient["patient_id"]] = band
    return out


@pytest.fixture(scope="module")
def population(reference) -> Path:
    return reference.data


@pytest.fixture(scope="module")
def mutation(population) -> tuple[str, dict]:
    """A code the generator wrote whose absence changes who must be listed: the first non-core
    hypertension code that does (the vocabulary's comment names them), else any that does."""
    truth = _truth_of(population)
    vocab = Vocab()
    codes = [r["code"] for r in vocab.rows(LIST)]
    named = re.search(r"Non-core[^:]*:\s*([0-9, ]+)", vocab.source(LIST))
    noncore = [c.strip() for c in named.group(1).split(",") if c.strip()] if named else []
    for code in noncore + [c for c in codes if c not in noncore]:
        without = _truth_without(code)
        if without != truth:
            return code, without
    pytest.fail(f"no {LIST} code changes the {COHORT} truth in this population: use a larger one")


def test_a_code_missing_from_conf_makes_the_comparison_fail(spark, reference, population, mutation, tmp_path,
                                                           monkeypatch):
    code, truth_without = mutation
    truth = _truth_of(population)

    # the shipped conf (the reference run): the worklist is exactly the truth
    assert _listed(reference.out, reference.manifest) == truth

    # the same record, one code removed from a copy of conf/codelists/hypertension.csv
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    listfile = conf / "codelists" / f"{LIST}.csv"
    lines = listfile.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.split(",", 1)[0].strip() != code]
    assert len(kept) == len(lines) - 1, f"{code} is not a row of conf/codelists/{LIST}.csv"
    listfile.write_text("".join(kept), encoding="utf-8")
    monkeypatch.setenv("CASEFIND_CONF", str(conf))
    mutated = run(spark, None, AS_OF, tmp_path / "conf-mutated", record=reference.out, cohorts=[COHORT])
    got = _listed(tmp_path / "conf-mutated", mutated)

    differs = sorted(p for p in set(truth) | set(got) if truth.get(p) != got.get(p))
    assert differs, f"removing {code} from conf/codelists/{LIST}.csv left the worklist equal to the truth"
    # and the difference is exactly the one the key predicts without that code
    assert got == truth_without
    print(f"removed {code}: {len(differs)} patient(s) listed differently, e.g. "
          f"{[(p, truth.get(p), got.get(p)) for p in differs[:3]]}")


def run(*args, **kwargs):
    from engine.pipeline import run as engine_run
    return engine_run(*args, **kwargs)


# -- the generator's vocabulary is its own ------------------------------------------------------------

def test_generator_never_reads_the_engine_codelists(tmp_path):
    """In a fresh interpreter, generating every format opens no file under conf/ and never imports
    engine.codelists (or engine.config, which locates conf/)."""
    script = f"""
import sys, json, datetime as dt
opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        opened.append(args[0])
sys.addaudithook(hook)
from synthetic_data import generate
for fmt in ("fhir-ndjson", "fhir-bundles", "gp-extract"):
    generate({str(tmp_path)!r} + "/" + fmt, 60, seed=5, fmt=fmt, as_of=dt.date(2026, 3, 31))
print(json.dumps({{"opened": opened, "modules": sorted(m for m in sys.modules if m.startswith("engine"))}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    conf = str(REPO / "conf")
    assert not [p for p in seen["opened"] if p.startswith(conf) or "/conf/" in p], seen["opened"]
    assert "engine.codelists" not in seen["modules"] and "engine.config" not in seen["modules"], seen["modules"]
    assert any("synthetic_data/codes/" in p for p in seen["opened"])


def test_generator_source_imports_no_engine_codelists():
    import ast
    for path in sorted((REPO / "synthetic_data").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.startswith(("engine.codelists", "engine.config", "engine.features"))], \
                f"{path.relative_to(REPO)} imports {names}"


def test_every_vocabulary_list_names_its_source_and_holds_noncore_members():
    v = Vocab()
    names = v.names()
    assert len(names) > 60
    for name in names:
        assert v.source(name), f"synthetic_data/codes/{name}.csv has no # Source line"
    # lists whose core members CLINICAL_RULES names: each holds published members beyond them
    rules = (REPO.parent / "shared" / "CLINICAL_RULES.md")
    if rules.is_file():
        text = rules.read_text(encoding="utf-8")
        for name in ("hypertension", "af", "heart_failure", "palliative"):
            assert [r["code"] for r in v.rows(name) if r["code"] not in text], name


def test_conf_holds_every_code_the_generator_writes():
    """Every (system, code) of the vocabulary is in the conf list of the same name, and in no other
    conf list the vocabulary has (else the engine would read it where the key does not); codes the
    generator writes outside any list are in no conf list. A failure names the codes: either conf or
    synthetic_data/codes is wrong, and the end-to-end comparison would fail on them too."""
    from engine.codelists import load_codelist

    v = Vocab()
    conf = {p.stem: load_codelist(p.stem, REPO / "conf" / "codelists") for p in (REPO / "conf" / "codelists").glob("*.csv")}
    in_conf: dict[tuple, set] = {}
    for name, cl in conf.items():
        for pair in cl.pairs():
            in_conf.setdefault(pair, set()).add(name)
    problems = []
    for name in v.names():
        if name not in conf:
            problems.append(f"conf has no list {name}")
            continue
        for pair in sorted(v.pairs(name)):
            lists = in_conf.get(pair, set())
            if name not in lists:
                problems.append(f"{pair[1]} is in synthetic_data/codes/{name}.csv but not in conf/codelists/{name}.csv")
            extra = sorted(n for n in lists if n in v.names() and pair not in v.pairs(n))
            if extra:
                problems.append(f"{pair[1]} ({name}) is also in conf lists {extra}, which the vocabulary does not say")
        # the attribute a rule reads (BP setting, ethnicity group and category, site, type, signal, drug)
        conf_rows = {(r["system"], r["code"]): r for r in conf[name].rows}
        for row in v.rows(name):
            theirs = conf_rows.get((row["system"], row["code"]))
            for attr in (a for a in row if a not in ("code", "term", "system", "swap")):
                if theirs is not None and attr in theirs and theirs[attr] != row[attr]:
                    problems.append(f"{row['code']} ({name}): {attr} is {row[attr]!r} here, {theirs[attr]!r} in conf")
    for coding in FIXED_CODINGS:
        if in_conf.get((coding[0], coding[1])):
            problems.append(f"fixed coding {coding[1]} is in conf lists {sorted(in_conf[(coding[0], coding[1])])}")
    assert not problems, "\n".join(problems)
