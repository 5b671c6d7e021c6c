"""What the review app's pages show, read from the store's DuckDB catalog (storage.catalog).

Every query opens the catalog read-only for its own duration, so a distill run that rebuilds the
catalog (it renames a new file over the old one) is never blocked and the next page sees the new one.
Reviews are not read here but from their parts (storage.reviews): a decision shows on the next page
without a catalog rebuild.
"""
from __future__ import annotations

from dataclasses import dataclass

from storage.catalog import query, read_only, refresh_catalog
from storage.store import Store

PAGE_SIZE = 48
SORTS = {"quality": "q.rainy_quality desc, q.sample_id", "quality_asc": "q.rainy_quality, q.sample_id",
         "dataset": "q.dataset, q.rainy_quality desc, q.sample_id", "id": "q.sample_id"}
LISTS = {
    "disagree": ("judges disagree", """
        select v.sample_id, s.dataset, string_agg(v.judge || '=' || v.answer, ' ' order by v.judge) as detail
        from votes v join samples s using (sample_id) {where} group by all having count(distinct v.answer) > 1
        order by 2, 1"""),
    "discarded": ("discarded", """
        select sample_id, dataset, stage || ': ' || coalesce(reason, '') as detail from decisions
        where stage not in ('kept', 'ingest', 'pairing') {and_where} order by dataset, sample_id"""),
    "kept": ("kept", """
        select sample_id, dataset, subset || ' ' || split || ', ' || yes_votes || ' yes' as detail from manifest
        {where} order by subset, dataset, sample_id"""),
}


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Catalog:
    store: Store

    def __post_init__(self) -> None:
        refresh_catalog(self.store)   # a store the flow left without a catalog (or an old one) gets its views

    def rows(self, sql: str, con=None) -> list[dict]:
        return query(self.store, sql, con)

    def one(self, sql: str, con=None) -> dict | None:
        found = self.rows(sql, con)
        return found[0] if found else None

    # the reference review -------------------------------------------------------------------------------
    def candidates(self, dataset: str | None, low: float | None, high: float | None, sort: str) -> list[dict]:
        """The real rainy images with a quality score: the reference candidates."""
        where = ["q.is_real", "q.status = 'ok'"]
        if dataset:
            where.append(f"q.dataset = {literal(dataset)}")
        if low is not None:
            where.append(f"q.rainy_quality >= {float(low)}")
        if high is not None:
            where.append(f"q.rainy_quality <= {float(high)}")
        return self.rows(f"select q.sample_id, q.dataset, q.rainy_quality, q.in_pool from quality q "
                         f"where {' and '.join(where)} order by {SORTS.get(sort, SORTS['quality'])}")

    def candidates_include(self, sample_id: str) -> bool:
        return self.one(f"select 1 as yes from quality where sample_id = {literal(sample_id)} and is_real "
                        f"and status = 'ok'") is not None

    def candidate_datasets(self) -> list[str]:
        return [r["dataset"] for r in self.rows("select distinct dataset from quality where is_real order by 1")]

    # the sample inspector ------------------------------------------------------------------------------
    def sample(self, sample_id: str) -> dict | None:
        return self.one(f"select * from samples where sample_id = {literal(sample_id)}")

    def inspection(self, sample_id: str) -> dict:
        """Everything the inspector shows of a sample but its `samples` row, over one connection."""
        sid = literal(sample_id)
        with read_only(self.store) as con:
            return {
                "quality": self.one(f"select * from quality where sample_id = {sid}", con),
                "inspection": self.one(f"select * exclude (rain_signature) from inspections where sample_id = {sid}",
                                       con),
                "decision": self.one(f"select * from decisions where sample_id = {sid}", con),
                "manifest": self.one(f"select subset, subset_source, split from manifest where sample_id = {sid}", con),
                "duplicate": self.one(f"select * from duplicates where sample_id = {sid}", con),
                "votes": self.rows(f"select judge, model, answer, raw, prompt_version, prompt_hash, latency_s, status, "
                                   f"error from votes where sample_id = {sid} order by judge", con),
                "references": self.rows(f"select r.reference_id, r.rank, r.s_txt, r.s_vis, r.s_ssim, s.dataset "
                                        f"from retrievals r left join samples s on s.sample_id = r.reference_id "
                                        f"where r.query_id = {sid} and r.selected order by r.rank", con),
                "retrieved_by": (self.one(f"select count(*) as queries from retrievals where reference_id = {sid} "
                                          f"and selected", con) or {}).get("queries", 0),
            }

    def listing(self, name: str, dataset: str | None, subset: str | None, page: int) -> tuple[list[dict], int]:
        """One page of a browse list and the list's length."""
        _, sql = LISTS[name]
        conditions = []
        if dataset:
            conditions.append(f"{'s.' if name == 'disagree' else ''}dataset = {literal(dataset)}")
        if subset and name == "kept":
            conditions.append(f"subset = {literal(subset)}")
        where = ("where " + " and ".join(conditions)) if conditions else ""
        sql = sql.format(where=where, and_where="".join(f" and {c}" for c in conditions))
        with read_only(self.store) as con:
            total = self.one(f"select count(*) as n from ({sql})", con)
            rows = self.rows(f"{sql} limit {PAGE_SIZE} offset {max(page, 0) * PAGE_SIZE}", con)
        return rows, total["n"] if total else 0

    def datasets(self) -> list[str]:
        return [r["dataset"] for r in self.rows("select distinct dataset from samples order by 1")]

    def study_pair(self, sample_id: str) -> dict:
        """What a study shows of a pair: the sample and its references, never the votes."""
        sid = literal(sample_id)
        return {"sample": self.sample(sample_id),
                "references": self.rows(f"select reference_id, rank from retrievals where query_id = {sid} "
                                        f"and selected order by rank")}
