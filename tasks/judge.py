"""The judge stage: each query's pair and its K3 references go to the three judges; one vote row each.

Queries are those of the retrieve stage (the rainy images of paired samples) outside the public test
splits and other than the copies the dedup step found: those pairs are held out for benchmarks or
have a copy that stays instead, so they can never be kept and asking about them is spent for nothing
(`JudgeConfig.public_test` and `JudgeConfig.duplicates` ask anyway, for an audit of the judges). A query's case is its
rainy image, its clean image and its selected references, best first. Judges are the profile's roles
judge_1..judge_3, loaded once per process. A vote keeps the judge's raw answer, its latency, the model
(kind:model_id@revision, the parts that are set) and the prompt's version and hash.

Nothing is lost to a failure: an image that cannot be read any more makes that query's three votes
"error" rows naming the file, and a judge call that fails is an "error" vote with the reason. Such
votes are re-asked on demand (the stage's repair mode, `REPAIR`): only the failed (query, judge) calls run again,
every other vote of the shard is kept as it was, and the shard's part is replaced, never appended to.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from models.pipeline.judges.prompts import load_prompt
from models.pipeline.profiles import ModelSpec, Profile
from models.pipeline.registry import load_role
from models.pipeline.roles import JUDGE_ROLES, Judge, JudgeCase, Verdict
from storage.images import clean_loader, rainy_loader
from storage.schemas import VOTES
from storage.stage import Repair, handle_field, speed_field
from tasks.image_batches import decoded_chunks

STAGE = "judge"
VERSION = "3"   # 2: public test samples not judged unless asked for; 3: nor duplicates, two checks per offline judge
CONTEXT_FIELDS = ("sample_id", "dataset", "time_of_day", "rain_type", "is_real")


@dataclass(frozen=True)
class Panel:
    """The loaded judges, by role, with what a vote records about each."""
    judges: Mapping[str, Judge]
    models: Mapping[str, str]          # role -> model_name(spec)
    batch_size: int                    # cases decoded and asked per call

    def identity(self, profile: Profile) -> dict[str, Any]:
        """What the judges contribute to a shard's fingerprint: adapter identity and prompt."""
        return {role: {**profile.roles[role].identity(), "prompt_version": judge.prompt_version,
                       "prompt_hash": judge.prompt_hash} for role, judge in self.judges.items()}


def model_name(spec: ModelSpec) -> str:
    """`kind:model_id@revision`, each part only when set: a weight-free judge is just its kind."""
    name = f"{spec.kind}:{spec.model_id}" if spec.model_id else spec.kind
    return f"{name}@{spec.revision}" if spec.revision else name


def judges_identity(profile: Profile, roles: Sequence[str] = JUDGE_ROLES) -> dict[str, Any]:
    """Panel.identity without loading a model: a prompted judge names its template in the option
    `prompt` (models.pipeline.judges.prompts), whose version and sha256 are read from the file. So a
    rerun with every shard done never loads a 7B judge just to compute fingerprints."""
    out = {}
    for role in roles:
        spec = profile.roles[role]
        template = load_prompt(spec.options["prompt"]) if spec.options.get("prompt") else None
        out[role] = {**spec.identity(), "prompt_version": template.version if template else "",
                     "prompt_hash": template.sha256 if template else ""}
    return out


def load_panel(profile: Profile, roles: Sequence[str] = JUDGE_ROLES) -> Panel:
    """The judges of `profile` (built once per process by load_role)."""
    return Panel({role: load_role(profile, role) for role in roles},
                 {role: model_name(profile.roles[role]) for role in roles},
                 min(profile.roles[role].batch_size for role in roles))


PUBLIC_TEST = "test"   # samples.split of a dataset's public test split


def queries_of(samples: pa.Table, retrievals: pa.Table, public_test: bool = False,
               skip: frozenset[str] = frozenset()) -> list[dict]:
    """The shard's queries in sample order, each with the ids of its selected references, best first;
    those of public test splits only with `public_test`, and none of `skip` (the shard's duplicates)."""
    chosen = retrievals.filter(pc.fill_null(retrievals["selected"], False)).sort_by(
        [("query_id", "ascending"), ("rank", "ascending")])
    refs: dict[str, list[str]] = {}
    for query_id, reference_id in zip(chosen["query_id"].to_pylist(), chosen["reference_id"].to_pylist()):
        refs.setdefault(query_id, []).append(reference_id)
    asked = set(retrievals["query_id"].to_pylist())
    return [{**row, "references": refs.get(row["sample_id"], [])} for row in samples.to_pylist()
            if row["sample_id"] in asked and row["sample_id"] not in skip
            and (public_test or row["split"] != PUBLIC_TEST)]


def case_loader(references: Mapping[str, dict], data_root: Path):
    """query row -> JudgeCase. An unreadable rainy or clean image raises (the query's votes become
    errors naming the file); an unreadable reference is left out, as retrieval ranks it last anyway."""
    rainy, clean = rainy_loader(data_root), clean_loader(data_root)

    def image(load, row: dict, side: str):
        try:
            return load(row)
        except Exception as exc:  # the vote's error must say which file of the pair is at fault
            raise OSError(f"{side} image {row[f'{side}_path']} cannot be read: {type(exc).__name__}: {exc}") from exc

    def load(row: dict) -> JudgeCase:
        images = []
        for reference_id in row["references"]:
            try:
                images.append(rainy(references[reference_id]))
            except Exception:  # noqa: BLE001 — a missing reference weakens the case, it does not void it
                continue
        return JudgeCase(image(rainy, row, "rainy"), image(clean, row, "clean"), images,
                         {k: row.get(k) for k in CONTEXT_FIELDS})
    return load


def _vote(sample_id: str, role: str, panel: Panel, verdict: Verdict) -> dict:
    judge = panel.judges[role]
    return {"sample_id": sample_id, "judge": role, "model": panel.models[role], "answer": verdict.answer,
            "raw": verdict.raw, "latency_s": verdict.latency_s, "prompt_version": judge.prompt_version,
            "prompt_hash": judge.prompt_hash, "status": "error" if verdict.answer == "error" else "ok",
            "error": verdict.error}


def ask(judge: Judge, cases: list[JudgeCase]) -> list[Verdict]:
    """One call of one judge; a call that raises or miscounts is an error verdict for each of its cases."""
    started = time.perf_counter()
    try:
        verdicts = list(judge.judge(cases))
        if len(verdicts) != len(cases):
            raise RuntimeError(f"judge returned {len(verdicts)} verdicts for {len(cases)} cases")
        return verdicts
    except Exception as exc:  # noqa: BLE001 — the call's cases are error votes, retried on demand
        seconds = (time.perf_counter() - started) / max(1, len(cases))
        return [Verdict("error", "", seconds, f"{type(exc).__name__}: {exc}") for _ in cases]


def vote_rows(jobs: list[tuple[dict, tuple[str, ...]]], references: Mapping[str, dict], data_root: Path,
              panel: Panel) -> list[dict]:
    """Votes of the given (query, roles to ask) jobs, decoding the next chunk while the judges work."""
    roles_of = {row["sample_id"]: roles for row, roles in jobs}
    out: list[dict] = []
    for chunk in decoded_chunks([row for row, _ in jobs], case_loader(references, data_root), panel.batch_size):
        for sample_id, why in chunk.errors.items():
            out += [_vote(sample_id, role, panel, Verdict("error", "", 0.0, why)) for role in roles_of[sample_id]]
        for role in panel.judges:
            asked = [(row, case) for row, case in zip(chunk.rows, chunk.images) if role in roles_of[row["sample_id"]]]
            if asked:
                verdicts = ask(panel.judges[role], [case for _, case in asked])
                out += [_vote(row["sample_id"], role, panel, v) for (row, _), v in zip(asked, verdicts)]
    return out


def _table(rows: list[dict]) -> pa.Table:
    order = {role: i for i, role in enumerate(JUDGE_ROLES)}
    rows.sort(key=lambda r: (r["sample_id"], order.get(r["judge"], len(order)), r["judge"]))
    return pa.Table.from_pylist(rows, schema=VOTES)


def judge_shard(samples: pa.Table, retrievals: pa.Table, references: Mapping[str, dict], data_root: Path,
                panel: Panel, public_test: bool = False, skip: frozenset[str] = frozenset()) -> pa.Table:
    """Every query of the shard asked of every judge: one row per (query, judge)."""
    roles = tuple(panel.judges)
    queries = queries_of(samples, retrievals, public_test, skip)
    return _table(vote_rows([(q, roles) for q in queries], references, data_root, panel))


def retry_errors(samples: pa.Table, retrievals: pa.Table, votes: pa.Table, references: Mapping[str, dict],
                 data_root: Path, panel: Panel, public_test: bool = False,
                 skip: frozenset[str] = frozenset()) -> pa.Table:
    """`votes` with each error vote re-asked of its judge; every other vote is kept as it was."""
    failed: dict[str, set[str]] = {}
    for row in votes.filter(pc.equal(votes["answer"], "error")).select(["sample_id", "judge"]).to_pylist():
        failed.setdefault(row["sample_id"], set()).add(row["judge"])
    if not failed:
        return votes
    jobs = [(q, tuple(r for r in panel.judges if r in failed[q["sample_id"]]))
            for q in queries_of(samples, retrievals, public_test, skip) if q["sample_id"] in failed]
    redone = vote_rows(jobs, references, data_root, panel)
    again = {(r["sample_id"], r["judge"]) for r in redone}
    kept = [r for r in votes.to_pylist() if (r["sample_id"], r["judge"]) not in again]
    return _table(kept + redone)


@dataclass(frozen=True)
class JudgeConfig:
    """The judges' identity (adapter and prompt of each); the loaded panel, the pool's rows and the
    data root are handles (the pool's fingerprint is already in every retrievals part's name)."""
    judges: dict
    public_test: bool = False                    # also judge the samples of public test splits
    duplicates: bool = False                     # also judge the pairs the dedup step found to be copies
    batch_size: int = speed_field(default=0)     # cases per judge call; 0: the profile's
    profile: Profile | None = handle_field(default=None)
    references: Mapping[str, dict] = handle_field(default=None)   # pool rows by sample_id
    data_root: Path | None = handle_field(default=None)
    panel: Panel | None = handle_field(default=None)              # already loaded judges (tests, tools)

    @classmethod
    def from_run(cls, run: Any) -> JudgeConfig:
        return cls(judges_identity(run.profile), run.settings.judge_public_test, run.settings.judge_duplicates,
                   profile=run.profile,
                   data_root=run.data_root,
                   references={row["sample_id"]: row for row in run.pool().rows})

    def load_panel(self) -> Panel:
        panel = self.panel or load_panel(self.profile)
        return replace(panel, batch_size=self.batch_size) if self.batch_size else panel


def skipped(tables: Mapping[str, Any], config: JudgeConfig) -> frozenset[str]:
    """The shard's duplicates (tasks.curation.duplicates.ShardTablesAndDuplicates), unless asked anyway."""
    return frozenset() if config.duplicates else tables.get("duplicates", frozenset())


def compute(tables: Mapping[str, Any], config: JudgeConfig) -> dict[str, pa.Table]:
    """`samples` + `retrievals` (+ the shard's duplicates) -> `votes`: every query asked of every judge."""
    return {"votes": judge_shard(tables["samples"], tables["retrievals"], config.references, config.data_root,
                                 config.load_panel(), config.public_test, skipped(tables, config))}


def has_error_votes(outputs: Mapping[str, pa.Table]) -> bool:
    return bool(pc.any(pc.equal(outputs["votes"]["answer"], "error")).as_py())


def repair_errors(tables: Mapping[str, pa.Table], outputs: Mapping[str, pa.Table],
                  config: JudgeConfig) -> dict[str, pa.Table]:
    """The repair mode: only the failed (query, judge) calls are asked again, every other vote is kept,
    and the shard's part is replaced under the same fingerprint (the same inputs and judges)."""
    return {"votes": retry_errors(tables["samples"], tables["retrievals"], outputs["votes"], config.references,
                                  config.data_root, config.load_panel(), config.public_test,
                                  skipped(tables, config))}


REPAIR = Repair(needed=has_error_votes, compute=repair_errors)
