"""The manifest step: RainRAG, the kept pairs, as one table and one Parquet file.

A global step, not a per-shard one: the train/test split has to see every kept pair at once (a clean
background may be shared across shards and datasets). It still goes through the ledger as the single
shard "all" (storage.stage.AllShards), whose input fingerprint is made of every current part it reads, so
a rerun with nothing new skips it, and a new vote anywhere, or another --min-yes, rebuilds it.

A pair enters when it is paired, it does not come from a public test split (those stay out, for
benchmarks), it is not a copy of another pair (tasks.curation.duplicates), at least `min_yes` judges
said yes (the rule: tasks.judging.decision) and its subset can be decided (tasks.curation.subsets).
Pairs of earlier releases keep their split (tasks.curation.releases). Every row carries its provenance: dataset,
pairing rule, hashes, quality scores, the vote summary, the retrieval scores of its references and the
fingerprint of the configuration that produced the manifest.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from storage.atomic import atomic_write
from storage.fingerprint import fingerprint
from storage.schemas import DECISIONS, MANIFEST
from storage.stage import GLOBAL_SHARD, Parts, fingerprinted
from storage.store import Store
from tasks.curation.split import TEST_SHARE_MAX, split_pairs
from tasks.curation.decisions import decision_row, reject_row, verdict
from tasks.curation.releases import Version, cut_release, latest, major_for, pins, release_path, versions
from tasks.curation.subsets import IMAGE_EVIDENCE
from tasks.judging.decision import check_min_yes

STAGE = "manifest"
VERSION = "4"  # 2: raw bytes of non-UTF-8 paths; 3: the decisions table; 4: duplicates, released splits pinned
MANIFEST_FILE = "manifest.parquet"   # <store>/manifest.parquet: what `flows.train --data` reads

CANDIDATES_SQL = """
with tally as (
    select sample_id, count(*) filter (answer = 'yes') as yes_votes, count(*) filter (answer = 'no') as no_votes,
           count(*) filter (answer = 'abstain') as abstain_votes, count(*) filter (answer = 'error') as error_votes,
           string_agg(judge || '=' || answer || ': ' || left(coalesce(nullif(raw, ''), error, ''), 120), ' | '
                      order by judge) as judge_reasons
    from votes group by 1),
refs as (
    select query_id, list(reference_id order by rank) filter (selected) as "references",
           avg(s_ssim) filter (selected) as mean_s_ssim, max(s_ssim) filter (selected) as max_s_ssim,
           avg(s_vis) filter (selected) as mean_s_vis, max(s_vis) filter (selected) as max_s_vis,
           avg(s_txt) filter (selected) as mean_s_txt, min(s_txt) filter (selected) as min_s_txt,
           max(error) filter (status = 'error') as retrieval_error
    from retrievals group by 1)
select s.sample_id, s.dataset, s.split as source_split, s.rainy_path, s.rainy_path_raw, s.clean_path,
       s.clean_path_raw, s.side_by_side, s.rainy_hash,
       s.clean_hash, s.pairing_rule, s.is_real, s.time_of_day, s.rain_type, t.yes_votes, t.no_votes, t.abstain_votes,
       t.error_votes, t.judge_reasons, q.rainy_quality, q.clean_quality, r."references", r.mean_s_ssim,
       r.max_s_ssim, r.mean_s_vis, r.max_s_vis, r.mean_s_txt, r.min_s_txt, r.retrieval_error,
       i.status as inspect_status, i.error as inspect_error, i.median_luma, i.streaks_per_10k, i.spots_per_10k,
       d.duplicate_of, d.reason as duplicate_reason
from samples s left join tally t using (sample_id)
left join quality q using (sample_id) left join refs r on r.query_id = s.sample_id
left join inspections i using (sample_id) left join duplicates d using (sample_id)
order by s.sample_id"""
REJECTS_SQL = "select sample_id, dataset, split, code, reason from rejects order by sample_id, path"


WHY_NOT = {"ingest": "rejected at ingest", "pairing": "unpaired (references only)",
           "public_test": "in public test splits", "duplicate": "copies of other pairs",
           "judges": "discarded by the judges",
           "subset": "with an undecided subset"}


def why_no_pair(store: Store) -> str:
    """Why the manifest holds no pair, from the decisions the manifest step wrote with it."""
    decisions = store.read_shard("decisions", GLOBAL_SHARD).select(["stage", "reason"]).to_pylist()
    if not decisions:
        return "no candidate at all: ingest found no sample"
    counts = Counter(d["stage"] for d in decisions)
    parts = [f"{counts[stage]} {why}" for stage, why in WHY_NOT.items() if counts[stage]]
    example = next((d["reason"] for d in decisions if d["stage"] in ("judges", "subset")), None)
    hint = f' (e.g. "{example}")' if example else ""
    return (f"of {len(decisions)} candidates, {', '.join(parts)}{hint}; "
            "see: select stage, reason, count(*) from decisions group by all")


def part_views(con: duckdb.DuckDBPyConnection, parts: Parts) -> bool:
    """One view per input table over its part files; False when a table has none yet."""
    for table, files in parts.files.items():
        if not files:
            return False
        listed = ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in files)
        con.execute(f"create view {table} as select * from read_parquet([{listed}], union_by_name = true)")
    return True


def candidates(parts: Parts) -> tuple[list[dict], list[dict]]:
    """(every sample with its votes, scores and measurements; every reject), one query each over the
    current parts."""
    con = duckdb.connect()
    try:
        if not part_views(con, parts):
            return [], []
        return rows_of(con, CANDIDATES_SQL), rows_of(con, REJECTS_SQL)
    finally:
        con.close()


def rows_of(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def build_manifest(rows: list[dict], rejects: list[dict], config: ManifestConfig,
                   pinned: Callable[[list[dict]], dict[str, str]] = lambda kept: {}) -> dict[str, pa.Table]:
    """The kept pairs of `rows` (candidates()), with subset and split decided, and the decision on every
    row and reject (tasks.curation.decisions: the same pass decides both). `pinned(kept)`: background ->
    released split, for the split's pins."""
    decided = [(row, verdict(row, config.min_yes, config.image_evidence)) for row in rows]
    kept = [{**row, "subset": d.subset.subset, "subset_source": d.subset.source, "config": config.config_id}
            for row, d in decided if d.stage == "kept"]
    pairs = [{"sample_id": r["sample_id"], "subset": r["subset"], "background": r["clean_hash"]} for r in kept]
    split = split_pairs(pairs, config.test_per_subset, config.test_share_max, pinned(pairs))
    decisions = [decision_row(row, d, split.get(row["sample_id"])) for row, d in decided]
    decisions += [reject_row(r) for r in rejects]
    return {"manifest": pa.Table.from_pylist([{**r, "split": split[r["sample_id"]]} for r in kept], schema=MANIFEST),
            "decisions": pa.Table.from_pylist(decisions, schema=DECISIONS)}


@dataclass(frozen=True)
class ManifestConfig:
    """The selection rule's settings, and the run's provenance (`upstream`: the models and every setting
    of tasks.distill_config that can change RainRAG), whose fingerprint every row carries as `config`."""
    min_yes: int
    test_per_subset: int
    test_share_max: float = TEST_SHARE_MAX
    image_evidence: tuple[float, float, float] = IMAGE_EVIDENCE   # the measured subset's thresholds
    release_major: int = 1                                         # whose released splits are pinned
    upstream: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_min_yes(self.min_yes)
        if self.test_per_subset < 0:
            raise ValueError(f"test_per_subset={self.test_per_subset} must be >= 0")

    @classmethod
    def from_run(cls, run: Any) -> ManifestConfig:
        s = run.settings
        return cls(s.min_yes, s.test_per_subset, release_major=run.release_major(),
                   upstream={"models": run.profile.identity(*run.profile.roles), "settings": s.provenance()})

    @property
    def config_id(self) -> str:
        """Equal for equal settings, in any store."""
        return fingerprint({"stage": STAGE, "version": VERSION, "config": fingerprinted(self)})


def compute(parts: Parts, config: ManifestConfig) -> dict[str, pa.Table]:
    """Every current part of the input tables -> `manifest` and `decisions` (the global shard)."""
    return build_manifest(*candidates(parts), config, lambda kept: pins(kept, parts.store, config.release_major))


def manifest_rows(store: Store) -> int:
    """Pairs in the current manifest (0 when there is none)."""
    part = store.current_part("manifest", GLOBAL_SHARD)
    return pq.ParquetFile(part).metadata.num_rows if part is not None else 0


@dataclass(frozen=True)
class Published:
    path: Path                      # <store>/manifest.parquet
    version: Version                # the release it is
    previous: Version | None        # the release before it
    new: bool                       # this call cut `version`


def publish_manifest(store: Store, new_major: bool = False) -> Published:
    """Cut a release of the current manifest when it differs from the latest one (tasks.curation.releases;
    SplitRuleBroken when it would move released pairs), then copy the latest release to
    <store>/manifest.parquet (atomically, only when it changed)."""
    part = store.current_part("manifest", GLOBAL_SHARD)
    if part is None:
        raise FileNotFoundError(f"{store.root} has no completed manifest; run the distill flow first")
    cut = cut_release(store, pq.read_table(part), major_for(store, new_major))
    version = latest(store)
    data = release_path(store, version).read_bytes()
    out = store.root / MANIFEST_FILE
    if not out.exists() or out.read_bytes() != data:
        atomic_write(out, lambda tmp: tmp.write_bytes(data))
    if cut is None:
        earlier = [v for v in versions(store) if v < version]
        return Published(out, version, earlier[-1] if earlier else None, False)
    return Published(out, cut[0], cut[1], True)
