"""The import directions that keep the layers apart: storage ← corpus ← models ← tasks ← flows, with training
and evaluation beside tasks (on storage and models, never on tasks, flows or each other; the benchmark
stage in tasks computes with evaluation's functions); tools (export, the server supervisor) on tasks; the
review app on top of them all. `models` may use the sample corpus because the offline profile's quality model
is fitted on it (models.pipeline.offline.niqe_fitting)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages its modules may import (besides themselves)
ALLOWED = {
    "storage": set(),
    "corpus": {"storage"},
    "models": {"storage", "corpus"},
    "tasks": {"storage", "models", "evaluation"},
    "training": {"storage", "models"},
    "evaluation": {"storage", "models"},
    "flows": {"storage", "models", "tasks", "training", "evaluation", "corpus", "flows"},
    "tools": {"storage", "models", "tasks", "training", "evaluation"},
    "review": {"storage", "models", "tasks", "flows"},
}
# Imports that break the rule, each named with why; a new one fails.
KNOWN: set[tuple[str, str]] = set()


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages a module imports, wherever in the module the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(ALLOWED)


def test_every_import_goes_down_the_layers():
    broken, seen_known = [], set()
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for imported in sorted(imported_packages(path) - allowed - {package}):
                if (rel, imported) in KNOWN:
                    seen_known.add((rel, imported))
                else:
                    broken.append(f"{rel} imports {imported}")
    assert not broken, "imports against the layer order:\n" + "\n".join(broken)
    assert seen_known == KNOWN, f"no longer broken, take them off KNOWN: {sorted(KNOWN - seen_known)}"


def test_flows_holds_flows_and_stage_logic_imports_no_prefect():
    """flows/ is only flows (and their command lines); under tasks/, only the generic runner uses Prefect."""
    for path in sorted((ROOT / "flows").glob("*.py")):
        if path.name != "__init__.py":
            assert "@flow(" in path.read_text(encoding="utf-8"), f"{path.name} holds no flow"
    with_prefect = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tasks").rglob("*.py")
                          if "prefect" in {n.split(".")[0] for n in _imports(p)})
    assert with_prefect == ["tasks/runner.py"], with_prefect
    with_ray = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("*/**/*.py")
                      if p.parts[len(ROOT.parts)] not in (".venv", "tests", "benchmarks")
                      and "ray" in {n.split(".")[0] for n in _imports(p)})
    assert with_ray == ["tasks/ray_engine.py"], with_ray


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_vocabulary_is_defined_once():
    """SUBSETS and the answers have one definition (storage.vocabulary); everyone else imports it."""
    defining = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if path.parts[len(ROOT.parts)] in (".venv", "tests"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("SUBSETS", "ANSWERS", "SUBSET_OF")
                                                    for t in node.targets):
                defining.append(path.relative_to(ROOT).as_posix())
    assert sorted(set(defining)) == ["storage/vocabulary.py"], defining
