"""The agreement study: a stratified blind draw, answers as reviews, and the report with its artifact."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from storage.catalog import query
from storage.reviews import DISCARD, KEEP, STUDY, Decision, append
from tasks.reviewing.study import create_study, load_study, measure
from tests.prefect_reads import latest_runs, run_artifacts

ROOT = Path(__file__).resolve().parents[2]


def outcomes(store) -> dict[str, str]:
    return {r["sample_id"]: r["stage"] for r in query(store, "select sample_id, stage from decisions")}


def test_a_study_is_half_kept_half_discarded_spread_over_datasets_and_reproducible(distilled_copy):
    _, store = distilled_copy
    study = create_study(store, pairs=10, seed=0)
    stage = outcomes(store)
    assert len(study["pairs"]) == len(set(study["pairs"])) == 10
    assert sorted(stage[i] for i in study["pairs"]) == ["judges"] * 5 + ["kept"] * 5
    datasets = {r["sample_id"]: r["dataset"] for r in query(store, "select sample_id, dataset from samples")}
    assert len({datasets[i] for i in study["pairs"]}) >= 4
    with pytest.raises(FileExistsError):
        create_study(store, pairs=10, seed=0)
    again = create_study(store, pairs=10, seed=0, name="again")
    assert again["pairs"] == study["pairs"]
    assert create_study(store, pairs=10, seed=1, name="other")["pairs"] != study["pairs"]


def test_measure_and_report_match_the_answers(distilled_copy, prefect_harness):
    from prefect.client.orchestration import get_client

    from flows.agreement import agreement_report

    _, store = distilled_copy
    study = create_study(store, pairs=8, seed=0)
    stage = outcomes(store)
    truth = {i: KEEP if stage[i] == "kept" else DISCARD for i in study["pairs"]}
    first, flipped = study["pairs"][0], {KEEP: DISCARD, DISCARD: KEEP}
    for item, answer in truth.items():   # ann agrees with the judges everywhere, bob everywhere but one pair
        append(store, Decision(STUDY, item, answer, "ann", "agreement"))
        append(store, Decision(STUDY, item, flipped[answer] if item == first else answer, "bob", "agreement"))
    append(store, Decision(STUDY, first, truth[first], "bob", "agreement"))   # bob changes his mind: last wins
    append(store, Decision(STUDY, study["pairs"][1], flipped[truth[study["pairs"][1]]], "cy", "agreement"))
    result = measure(store)
    assert result.reviewers == ["ann", "bob", "cy"] and result.answers == 17
    assert result.table2_agreement.value == pytest.approx(16 / 17)
    assert result.majority_pairs == 8 and result.majority_vs_ensemble["agreement"].value == 1.0
    assert result.majority_vs_ensemble["cohen_kappa"].value == pytest.approx(1.0)
    # Fleiss' κ reads the pairs all three answered: one, split 2:1, so P = 1/3, p_e = 5/9, κ = −1/2, no interval
    among = result.among_reviewers["fleiss_kappa"]
    assert among.value == pytest.approx(-0.5) and among.low != among.low

    path = Path(agreement_report(str(store.root)))
    text = path.read_text()
    assert "| 8 | 3 | 94.1 % [" in text and (store.reports / "agreement.png").stat().st_size > 5000
    with get_client(sync_client=True) as client:
        [run] = [r for r in latest_runs(client, "agreement-report") if r.parameters["store"] == str(store.root)]
        [artifact] = [a for a in run_artifacts(client, run.id) if a.key == "agreement-report"]
    assert "## Table 2" in artifact.data and "data:image/png;base64," in artifact.data


def test_the_study_command_line_fails_clearly(distilled_copy, tmp_path):
    _, store = distilled_copy

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "review", "study", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)

    created = cli("create", "--store", str(store.root), "--pairs", "6", "--seed", "0")
    assert created.returncode == 0 and "6 pairs (3 kept, 3 discarded" in created.stdout
    assert load_study(store, "agreement")["seed"] == 0
    unanswered = cli("report", "--store", str(store.root))
    assert unanswered.returncode == 2 and "has no answer yet" in unanswered.stderr
    assert cli("create", "--store", str(tmp_path / "nothing")).returncode == 2
