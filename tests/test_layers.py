"""The import directions that keep the layers apart: storage ← models ← tasks ← flows, with training and
evaluation beside tasks (on storage and models, never on tasks, flows or each other; the benchmark
stage in tasks computes with evaluation's functions)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# package -> the project packages its modules may import (besides themselves)
ALLOWED = {
    "storage": set(),
    "corpus": {"storage"},
    "models": {"storage"},
    "tasks": {"storage", "models", "evaluation"},
    "training": {"storage", "models"},
    "evaluation": {"storage", "models"},
    "flows": {"storage", "models", "tasks", "training", "evaluation", "corpus", "flows"},
}
# Imports that break the rule today, each to be removed (the pipeline-definition work); a new one fails.
KNOWN = {
    ("models/pipeline/offline/niqe.py", "tasks"),           # the NIQE fitting command reads the store
    ("models/pipeline/offline/niqe.py", "corpus"),          # ... and generates the sample corpus
}


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
