"""The import contract (README, "Layers"): ingest → record → facts → cohorts | risk → worklists →
pipeline, cli, jobs. A module imports only from its own layer or a lower one; cohorts and risk
never import each other; no cohort imports another cohort; nothing imports in a circle; and no
engine module reads what the synthetic-data generator writes. Read from the source (AST), so an
import inside a function counts too.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (layer, module prefixes), lowest first. A prefix matches the module and its submodules.
LAYERS = (
    ("foundation", ("engine", "engine.config", "engine.codes", "engine.codelists", "engine.schema",
                    "engine.fhir_conventions", "engine.spark", "engine.failures", "engine.pseudonym")),
    ("views", ("engine.views",)),
    ("ingest", ("engine.ingest",)),
    ("record", ("engine.record",)),
    ("facts", ("engine.features",)),
    ("cohorts", ("engine.cohorts",)),
    ("risk", ("engine.risk",)),
    ("worklists", ("engine.worklists",)),
    ("entry points", ("engine.pipeline", "engine.cli", "engine.preflight", "engine.output_folder", "engine.docs",
                      "jobs")),
)
PEERS = {"cohorts": 5, "risk": 5}           # same rank: may not import each other
COHORT_SHARED = ("engine.cohorts", "engine.cohorts.declaration", "engine.cohorts.render")
# What the synthetic-data generator writes beside a population. Only the CLI's generate and demo
# commands (which run the generator) may name it; ingest may list generator.json as "not data".
GENERATOR_FILES = ("truth.csv", "near_misses.csv", "synthetic_data")
MAY_RUN_GENERATOR = ("engine.cli",)


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> tuple[str, int]:
    best, rank = None, None
    for i, (name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > len(best[1])):
                best, rank = (name, p), i
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0], PEERS.get(best[0], rank)


def _sources():
    for folder in ("engine", "jobs"):
        for path in sorted((REPO / folder).rglob("*.py")):
            yield _module(path), path


def _imports(path: Path, module: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")[: -node.level + (1 if path.name == "__init__.py" else 0) or None]
                base = ".".join([*pkg, base]) if base else ".".join(pkg)
            known = {m for m, _ in _sources()}
            subs = {f"{base}.{a.name}" for a in node.names} & known
            found |= subs
            if len(subs) < len(node.names):       # a name defined in the package itself
                found.add(base)
    known = {m for m, _ in _sources()}
    return {m for m in found if m in known and m != module}


def upward(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in graph.items():
        name, rank = _layer(module)
        for t in targets:
            t_name, t_rank = _layer(t)
            if t_rank > rank or (t_rank == rank and t_name != name):
                wrong.append(f"{module} ({name}) imports {t} ({t_name})")
    return wrong


def cohort_to_cohort(graph: dict[str, set[str]]) -> list[str]:
    return [f"{m} imports {t}" for m, targets in graph.items()
            if m.startswith("engine.cohorts.") and m not in COHORT_SHARED
            for t in targets if t.startswith("engine.cohorts") and t not in COHORT_SHARED]


def cycles(graph: dict[str, set[str]]) -> list[str]:
    state, stack, found = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                found.append(" → ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"
    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


GRAPH = {m: _imports(p, m) for m, p in _sources()}


def test_every_import_goes_down_the_layers():
    wrong = upward(GRAPH)
    assert not wrong, "\n".join(wrong)


def test_no_cohort_imports_another_cohort():
    wrong = cohort_to_cohort(GRAPH)
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    found = cycles(GRAPH)
    assert not found, "\n".join(found)


def test_engine_never_reads_generator_files():
    wrong = []
    for module, path in _sources():
        if module in MAY_RUN_GENERATOR:
            continue
        text = path.read_text(encoding="utf-8")
        wrong += [f"{module} mentions {name}" for name in GENERATOR_FILES if name in text]
    assert not wrong, "\n".join(wrong)


def test_the_checks_catch_what_they_forbid():
    """On a made-up graph, each check names the violation planted in it."""
    assert upward({"engine.features.facts": {"engine.cohorts.smr"}}) == [
        "engine.features.facts (facts) imports engine.cohorts.smr (cohorts)"]
    assert upward({"engine.risk.history": {"engine.cohorts.care_home"}}) == [
        "engine.risk.history (risk) imports engine.cohorts.care_home (cohorts)"]
    assert upward({"engine.cohorts.smr": {"engine.features.facts", "engine.record"}}) == []
    assert cohort_to_cohort({"engine.cohorts.smr": {"engine.cohorts.care_home", "engine.cohorts.render"}}) == [
        "engine.cohorts.smr imports engine.cohorts.care_home"]
    assert cycles({"engine.risk.card": {"engine.risk.model"}, "engine.risk.model": {"engine.risk.card"}}) == [
        "engine.risk.card → engine.risk.model → engine.risk.card"]
