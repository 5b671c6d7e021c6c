"""Why each candidate is in RainRAG or not: one decision per sample (and per reject), in rule order.

The manifest step applies these rules and writes both tables from the same pass, so the `decisions`
table can never disagree with the manifest. The first rule that applies decides:

  ingest       the file or the pair could not become a sample (its reject code and message);
  pairing      an unpaired sample: a reference for retrieval, never a training pair;
  public_test  in a public dataset's test split: held out for benchmarks (and not judged by default);
  duplicate    a copy of another pair, which stays instead (tasks.curation.duplicates; not judged);
  judges       not judged (a retrieval or read error), or fewer than `min_yes` judges said yes;
  subset       kept by the judges, but day/night or rain type could not be decided;
  kept         in RainRAG, with its subset and RainRAG's own split.
"""
from __future__ import annotations

from dataclasses import dataclass

from tasks.curation.subsets import IMAGE_EVIDENCE, SubsetDecision, decide_subset
from tasks.judging.decision import VoteCount, keep

STAGES = ("ingest", "pairing", "public_test", "duplicate", "judges", "subset", "kept")


@dataclass(frozen=True)
class Verdict:
    stage: str                          # one of STAGES
    reason: str
    subset: SubsetDecision | None = None   # decided for the pairs the judges kept


def votes_of(row: dict) -> VoteCount | None:
    """The row's tally, None when no judge was asked about it."""
    if row.get("yes_votes") is None:
        return None
    return VoteCount(row["yes_votes"], row["no_votes"], row["abstain_votes"], row["error_votes"])


def verdict(row: dict, min_yes: int, image_evidence: tuple[float, float, float] = IMAGE_EVIDENCE) -> Verdict:
    """The decision on one sample row of the manifest's candidate query (rules in the module docstring)."""
    if row["clean_path"] is None:
        return Verdict("pairing", "unpaired: a reference for retrieval, never a training pair")
    if row["source_split"] == "test":
        return Verdict("public_test", f"in the public test split of {row['dataset']}: held out for benchmarks")
    if row.get("duplicate_of"):
        return Verdict("duplicate", row["duplicate_reason"])
    votes = votes_of(row)
    if votes is None:
        why = f"retrieval failed: {row['retrieval_error']}" if row.get("retrieval_error") else "no retrieval row"
        return Verdict("judges", f"not judged: {why}")
    if not keep(votes, min_yes):
        errors = f", {votes.error} calls failed" if votes.error else ""
        return Verdict("judges", f"{votes.yes} of {votes.judged} judges said yes, {min_yes} needed{errors}")
    inspection = {"status": row["inspect_status"], "error": row["inspect_error"], "median_luma": row["median_luma"],
                  "streaks_per_10k": row["streaks_per_10k"], "spots_per_10k": row["spots_per_10k"]}
    subset = decide_subset(row["time_of_day"], row["rain_type"], inspection, image_evidence)
    if subset.subset is None:
        return Verdict("subset", f"subset undecided: {subset.reason}", subset)
    return Verdict("kept", f"{votes.yes} of {votes.judged} judges said yes; subset {subset.subset} from the "
                           f"{subset.source}", subset)


def decision_row(row: dict, decided: Verdict, split: str | None = None) -> dict:
    """The `decisions` row of a sample (storage.schemas.DECISIONS); `split`: RainRAG's, for kept pairs."""
    return {"sample_id": row["sample_id"], "dataset": row["dataset"], "source_split": row["source_split"],
            "stage": decided.stage, "reason": decided.reason, "yes_votes": row.get("yes_votes"),
            "no_votes": row.get("no_votes"), "abstain_votes": row.get("abstain_votes"),
            "error_votes": row.get("error_votes"), "judge_reasons": row.get("judge_reasons"),
            "subset": decided.subset.subset if decided.subset else None, "split": split,
            "duplicate_of": row.get("duplicate_of") if decided.stage == "duplicate" else None}


def reject_row(reject: dict) -> dict:
    """The `decisions` row of a candidate that ingest rejected."""
    return {"sample_id": reject["sample_id"], "dataset": reject["dataset"], "source_split": reject["split"],
            "stage": "ingest", "reason": f"{reject['code']}: {reject['reason']}"}
