"""The audit step: what RainRAG is made of, and what could be wrong with it. Table `audit`, one row per finding:

- funnel          per source dataset: samples that entered, passed quality (images readable and scored),
                  were judged and were kept — the table the paper never published;
- near_duplicate  a manifest train pair with an image within NEAR_DUPLICATE_BITS of an image of a public
                  test split present in `samples` (64-bit DCT perceptual hashes, rainy and clean images
                  compared both ways): the test set would score training data;
- misaligned      a paired sample whose clean image is shifted against its rainy one (the best small shift
                  of their low frequencies correlates better than none) or another scene altogether (the
                  low frequencies barely correlate); `detail` says whether the pair is in the manifest.

Like the manifest, a global step through the ledger as the shard "all"; the dataset card
(tasks.auditing.card) is drawn from its output.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from storage.schemas import AUDIT
from storage.stage import GLOBAL_SHARD, Parts
from storage.store import Store
from tasks.auditing.card import write_card
from tasks.curation.evidence import hamming
from tasks.manifest import part_views, rows_of

STAGE = "audit"
VERSION = "1"
NEAR_DUPLICATE_BITS = 6   # [ours] of 64; corpus: distinct clean scenes are >= 20 apart at the 1st percentile
ALIGN_GAIN_MAX = 0.01     # [ours] corpus: aligned pairs gain <= 0.003, a 1/12-width shift >= 0.02
ALIGN_MIN = 0.5           # [ours] corpus: the worst aligned pair (heavy rain) still correlates at 0.68
CHUNK = 4096              # train hashes compared with every test hash at once: (CHUNK, M) distances

FUNNEL_SQL = """
select s.dataset, count(*) as entered, count(*) filter (q.status = 'ok') as passed_quality,
       count(*) filter (v.sample_id is not null) as judged, count(*) filter (m.sample_id is not null) as kept,
       count(*) filter (s.split = 'test') as public_test
from samples s left join quality q using (sample_id)
left join (select distinct sample_id from votes) v using (sample_id)
left join manifest m using (sample_id)
group by 1 order by 1"""
TRAIN_SQL = """select m.sample_id, m.dataset, i.rainy_phash, i.clean_phash from manifest m join inspections i
               using (sample_id) where m.split = 'train' and i.status = 'ok' order by 1"""
TEST_SQL = """select s.sample_id, s.dataset, i.rainy_phash, i.clean_phash from samples s join inspections i
              using (sample_id) where s.split = 'test' and i.status = 'ok' order by 1"""
PAIRS_SQL = """select s.sample_id, s.dataset, i.alignment, i.alignment_gain, m.sample_id is not null as kept
               from samples s join inspections i using (sample_id) left join manifest m using (sample_id)
               where i.alignment is not null order by 1"""


def funnel(con: duckdb.DuckDBPyConnection) -> list[dict]:
    return [{"finding": "funnel", "dataset": r["dataset"], "entered": r["entered"],
             "passed_quality": r["passed_quality"],
             "judged": r["judged"], "kept": r["kept"],
             "detail": f"{r['public_test']} in public test splits (held out for benchmarks: never kept, "
                       "judged only with judge_public_test)"}
            for r in rows_of(con, FUNNEL_SQL)]


def _hashes(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(hashes (2N,), owner row index (2N,), image kind) of the rainy and clean images present."""
    values, owner, kind = [], [], []
    for i, row in enumerate(rows):
        for image in ("rainy", "clean"):
            if row[f"{image}_phash"] is not None:
                values.append(row[f"{image}_phash"])
                owner.append(i)
                kind.append(image)
    return np.array(values, np.int64), np.array(owner, np.int64), kind


def near_duplicates(train: list[dict], test: list[dict], bits: int) -> list[dict]:
    """One row per (train pair, test sample) whose closest images are within `bits`, closest first."""
    a, a_owner, a_kind = _hashes(train)
    b, b_owner, b_kind = _hashes(test)
    best: dict[tuple[int, int], tuple[int, str]] = {}
    for start in range(0, len(a), CHUNK):
        distance = hamming(a[start:start + CHUNK], b)    # (chunk, M)
        for i, j in zip(*np.nonzero(distance <= bits)):
            key, found = (int(a_owner[start + i]), int(b_owner[j])), int(distance[i, j])
            if key not in best or found < best[key][0]:
                best[key] = (found, f"{a_kind[start + i]}-{b_kind[j]}")
    return [{"finding": "near_duplicate", "dataset": train[i]["dataset"], "sample_id": train[i]["sample_id"],
             "other_id": test[j]["sample_id"], "other_dataset": test[j]["dataset"], "image": kind,
             "score": float(d), "threshold": float(bits),
             "detail": f"{kind.replace('-', ' image of the train pair vs ')} image of the public test sample, "
                       f"{d} of 64 bits apart"}
            for (i, j), (d, kind) in sorted(best.items(), key=lambda item: (item[1][0], item[0]))]


def misaligned(pairs: list[dict], gain_max: float, minimum: float) -> list[dict]:
    out = []
    for p in pairs:
        shifted, unrelated = p["alignment_gain"] > gain_max, p["alignment"] < minimum
        if shifted or unrelated:
            why = (f"a shift correlates {p['alignment_gain']:.3f} better than none" if shifted else
                   f"low frequencies correlate only {p['alignment']:.2f}")
            out.append({"finding": "misaligned", "dataset": p["dataset"], "sample_id": p["sample_id"],
                        "score": p["alignment_gain"] if shifted else p["alignment"],
                        "threshold": gain_max if shifted else minimum,
                        "detail": f"{why}; {'in' if p['kept'] else 'not in'} the manifest"})
    return out


@dataclass(frozen=True)
class AuditConfig:
    near_duplicate_bits: int = NEAR_DUPLICATE_BITS
    align_gain_max: float = ALIGN_GAIN_MAX
    align_min: float = ALIGN_MIN

    @classmethod
    def from_run(cls, run: Any) -> AuditConfig:
        return cls()


def audit_rows(parts: Parts, config: AuditConfig) -> pa.Table:
    con = duckdb.connect()
    try:
        if not part_views(con, parts):
            missing = sorted(t for t, files in parts.files.items() if not files)
            raise FileNotFoundError(f"audit needs the {', '.join(missing)} table(s), which {parts.store.root} "
                                    "does not have yet")
        near = near_duplicates(rows_of(con, TRAIN_SQL), rows_of(con, TEST_SQL), config.near_duplicate_bits)
        rows = (funnel(con) + near + misaligned(rows_of(con, PAIRS_SQL), config.align_gain_max, config.align_min))
    finally:
        con.close()
    return pa.Table.from_pylist(rows, schema=AUDIT)


def compute(parts: Parts, config: AuditConfig) -> dict[str, pa.Table]:
    """Samples, quality, votes, inspections and the manifest -> `audit` (the global shard)."""
    return {"audit": audit_rows(parts, config)}


def dataset_card(store: Store) -> Path:
    """The dataset card of the current audit (drawn again only when the audit changed)."""
    audit, manifest = store.current_part("audit", GLOBAL_SHARD), store.current_part("manifest", GLOBAL_SHARD)
    if audit is None or manifest is None:
        raise FileNotFoundError(f"{store.root} has no completed audit; run the distill flow first")
    return write_card(store.reports, store.read_shard("audit", GLOBAL_SHARD),
                      store.read_shard("manifest", GLOBAL_SHARD), store.read_shard("decisions", GLOBAL_SHARD),
                      audit.stem.removeprefix("part-"))
