"""The human–judge agreement study (supplement Table 2): draw it, and measure how people and judges agree.

A study is `<store>/studies/<name>.json`: a stratified, blind sample of judged pairs, half kept by the
judges and half discarded by them (spread over the datasets), in a shuffled order that shows nothing
of either. Reviewers answer keep/discard for each pair in the review app; their answers are rows of
the `reviews` table (kind `study`), the last answer of a reviewer per pair in force.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from storage.atomic import write_json
from storage.catalog import query, refresh_catalog
from storage.reviews import DISCARD, KEEP, STUDY, in_force, read_all
from storage.store import Store
from tasks.reviewing.agreement import (Estimate, cohen_kappa, counts, fleiss_kappa, gwet_ac1, percent_agreement,
                                       two_rater_table, with_interval)

STUDY_NAME = "agreement"


def study_path(store: Store, name: str) -> Path:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ValueError(f"a study name is letters, digits and - _ . only, not {name!r}")
    return store.root / "studies" / f"{name}.json"


def load_study(store: Store, name: str) -> dict:
    path = study_path(store, name)
    if not path.exists():
        raise FileNotFoundError(f"no study {name!r} in {store.root}: create it with "
                                f"`python -m review study create --store {store.root} --name {name}`")
    return json.loads(path.read_text(encoding="utf-8"))


def studies(store: Store) -> list[str]:
    return sorted(p.stem for p in (store.root / "studies").glob("*.json"))


def _spread(rows: list[dict], rng: np.random.Generator) -> list[dict]:
    """The rows in an order that takes one of each dataset in turn (each dataset's rows shuffled)."""
    by_dataset: dict[str, list[dict]] = {}
    for row in rows:
        by_dataset.setdefault(row["dataset"], []).append(row)
    queues = [list(rng.permutation(len(group))) for group in by_dataset.values()]
    groups = list(by_dataset.values())
    order = rng.permutation(len(groups))
    spread = []
    while any(queues):
        for g in order:
            if queues[g]:
                spread.append(groups[g][queues[g].pop()])
    return spread


def create_study(store: Store, pairs: int, seed: int, name: str = STUDY_NAME) -> dict:
    """Draw the study and write it; refused when one of that name exists (its answers would lose their pairs)."""
    path = study_path(store, name)
    if path.exists():
        raise FileExistsError(f"study {name!r} exists ({path}); pick another --name")
    refresh_catalog(store)
    judged = query(store, "select sample_id, dataset, stage from decisions where stage in ('kept', 'judges') "
                          "order by sample_id")
    if not judged:
        raise ValueError(f"{store.root} has no judged pair (decisions with stage kept or judges): run the distill "
                         "flow first")
    rng = np.random.default_rng(seed)
    kept = _spread([r for r in judged if r["stage"] == "kept"], rng)
    discarded = _spread([r for r in judged if r["stage"] == "judges"], rng)
    want_kept = min(len(kept), max(pairs - len(discarded), (pairs + 1) // 2))
    chosen = kept[:want_kept] + discarded[:pairs - want_kept]
    chosen = [chosen[i] for i in rng.permutation(len(chosen))]   # blind: the order says nothing of the outcome
    study = {"name": name, "seed": seed, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "pairs": [r["sample_id"] for r in chosen], "requested": pairs,
             "strata": {"kept": want_kept, "discarded": len(chosen) - want_kept}}
    write_json(path, study)
    return study


@dataclass
class StudyResult:
    """Everything the report says, computed from the study, its answers and the judges' votes."""
    name: str
    pairs: int
    reviewers: list[str]
    answers: int
    table2_agreement: Estimate            # every (reviewer, pair) answer against the ensemble's decision
    majority_pairs: int                   # pairs with a human majority (ties left out)
    majority_vs_ensemble: dict[str, Estimate]
    majority_vs_judge: dict[str, Estimate]
    among_reviewers: dict[str, Estimate]
    rows: list[dict] = field(default_factory=list)   # per pair: ensemble, judges, answers, majority


def _ensemble(store: Store, ids: list[str]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    listed = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
    decided = {r["sample_id"]: KEEP if r["stage"] == "kept" else DISCARD
               for r in query(store, f"select sample_id, stage from decisions where sample_id in ({listed})")}
    judges: dict[str, dict[str, str]] = {}
    for r in query(store, f"select sample_id, judge, answer from votes where sample_id in ({listed})"):
        judges.setdefault(r["judge"], {})[r["sample_id"]] = KEEP if r["answer"] == "yes" else DISCARD
    return decided, judges


def measure(store: Store, name: str = STUDY_NAME, seed: int = 0) -> StudyResult:
    study = load_study(store, name)
    refresh_catalog(store)
    ids = study["pairs"]
    answers = {item: {} for item in ids}
    rows = read_all(store)
    for reviewer in sorted({r["reviewer"] for r in rows if r["kind"] == STUDY and r["study"] == name}):
        for item, row in in_force(rows, STUDY, name, reviewer).items():
            if item in answers:
                answers[item][reviewer] = row["decision"]
    reviewers = sorted({who for given in answers.values() for who in given})
    if not reviewers:
        raise ValueError(f"study {name!r} has no answer yet: reviewers answer it in the review app "
                         f"(/studies/{name})")
    ensemble, judges = _ensemble(store, ids)
    answered = [i for i in ids if answers[i] and i in ensemble]
    majority = {}
    for i in answered:
        keep = sum(a == KEEP for a in answers[i].values())
        if keep * 2 != len(answers[i]):
            majority[i] = KEEP if keep * 2 > len(answers[i]) else DISCARD
    decided = sorted(majority)

    def versus(other: dict[str, str]) -> dict[str, Estimate]:
        items = [i for i in decided if i in other]
        human, machine = [majority[i] for i in items], [other[i] for i in items]
        pick = lambda seq, idx: [seq[k] for k in idx]  # noqa: E731
        return {"agreement": with_interval(lambda idx: percent_agreement(pick(human, idx), pick(machine, idx)),
                                           len(items), seed),
                "cohen_kappa": with_interval(lambda idx: cohen_kappa(pick(human, idx), pick(machine, idx)),
                                             len(items), seed),
                "gwet_ac1": with_interval(lambda idx: gwet_ac1(two_rater_table(pick(human, idx), pick(machine, idx))),
                                          len(items), seed)}

    # Fleiss' κ needs the same raters on every item: the pairs every reviewer answered
    complete = [i for i in answered if len(answers[i]) == len(reviewers)]
    table = counts([list(answers[i].values()) for i in complete])
    among = {"fleiss_kappa": with_interval(lambda idx: fleiss_kappa(table[idx]), len(complete), seed),
             "gwet_ac1": with_interval(lambda idx: gwet_ac1(table[idx]), len(complete), seed)}
    # answers of one pair are not independent: the interval resamples pairs, each with all its answers
    agree = [[answer == ensemble[i] for answer in answers[i].values()] for i in answered]
    return StudyResult(
        name, len(ids), reviewers, sum(map(len, agree)),
        with_interval(lambda idx: float(np.mean([a for k in idx for a in agree[k]])), len(agree), seed),
        len(decided), versus(ensemble), {judge: versus(votes) for judge, votes in sorted(judges.items())}, among,
        [{"sample_id": i, "ensemble": ensemble.get(i), "judges": {j: v.get(i) for j, v in sorted(judges.items())},
          "answers": answers[i], "majority": majority.get(i)} for i in ids])
