"""The review app: server-rendered pages over one store, and the few writes a reviewer makes.

Pages (GET, read-only): /references (the reference review), /samples (lists to browse) and
/samples/<id> (the inspector), /studies and /studies/<name> (the agreement study), /reports (the
dataset card and the retrieval contact sheets). Images: /images/<id>/rainy.png | clean.png (decoded by
the project's loaders, so every dataset format shows) and /files/data|store/<path> (files inside the
data root or the store only: review.files). Writes (POST, JSON): /api/reviews and /api/reviews/undo;
each needs a reviewer name, and the shared token when the server was given one.
"""
from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from review.files import Refused, inside, png_bytes
from review.queries import LISTS, PAGE_SIZE, SORTS, Catalog
from storage.catalog import query, refresh_catalog
from storage.images import clean_loader, rainy_loader
from storage.reviews import PENDING, REFERENCE, STUDY, Decision, ReviewRefused, append, in_force, read_all, undo_last
from storage.store import Store
from storage.vocabulary import SUBSETS
from tasks.reviewing.study import load_study, studies

HERE = Path(__file__).resolve().parent
TOKEN_HEADER = "X-Review-Token"
SAMPLE_ID = re.compile(r"\b[0-9a-f]{16}\b")
REFERENCE_PAGE = 120   # tiles per page of the reference review


class ReviewIn(BaseModel):
    kind: str
    item: str
    decision: str
    reviewer: str = ""
    study: str | None = None


class UndoIn(BaseModel):
    reviewer: str = ""


def create_app(store_root: Path, data_root: Path, token: str | None = None) -> FastAPI:
    store, data_root = Store(store_root), Path(data_root).resolve()
    catalog = Catalog(store)
    templates = Jinja2Templates(directory=HERE / "templates")
    app = FastAPI(title="rainrag review", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    roots = {"data": data_root, "store": store.root}

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"store": store.root, "token_required": bool(token),
                                                          **context}, status_code=status)

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def check_token(request: Request) -> JSONResponse | None:
        if token and not secrets.compare_digest(request.headers.get(TOKEN_HEADER, ""), token):
            return refuse(403, "wrong or missing review token: enter the token the server was started with")
        return None

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return refuse(403, str(exc))

    @app.exception_handler(FileNotFoundError)
    async def missing(_: Request, exc: FileNotFoundError) -> JSONResponse:
        return refuse(404, str(exc))

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/references")

    @app.get("/references", response_class=HTMLResponse)
    def references(request: Request, dataset: str = "", low: float | None = None, high: float | None = None,
                   undecided: bool = False, sort: str = "quality", page_no: int = 0):
        decided = {item: row for item, row in in_force(read_all(store), REFERENCE).items()
                   if row["decision"] != PENDING}
        every = catalog.candidates(dataset or None, low, high, sort)
        listed = [c for c in every if not (undecided and c["sample_id"] in decided)]
        shown = [dict(c, decision=decided[c["sample_id"]]["decision"] if c["sample_id"] in decided else PENDING,
                      reviewer=decided.get(c["sample_id"], {}).get("reviewer"))
                 for c in listed[page_no * REFERENCE_PAGE:(page_no + 1) * REFERENCE_PAGE]]
        filters = {"dataset": dataset, "low": low, "high": high, "undecided": undecided, "sort": sort}
        return page(request, "references.html", candidates=shown, total=len(every),
                    decided=sum(c["sample_id"] in decided for c in every), datasets=catalog.candidate_datasets(),
                    filters=filters, sorts=list(SORTS), page_no=page_no,
                    pages=max(1, -(-len(listed) // REFERENCE_PAGE)),
                    query=urlencode({k: v for k, v in filters.items() if v not in (None, "", False)}))

    @app.get("/samples", response_class=HTMLResponse)
    def sample_lists(request: Request, which: str = Query("disagree", alias="list"), dataset: str = "",
                     subset: str = "", page_no: int = 0):
        if which not in LISTS:
            return refuse(404, f"no list {which!r}: {', '.join(LISTS)}")
        rows, total = catalog.listing(which, dataset or None, subset or None, page_no)
        return page(request, "samples.html", lists={k: v[0] for k, v in LISTS.items()}, current=which, rows=rows,
                    total=total, page_no=page_no, pages=max(1, -(-total // PAGE_SIZE)), datasets=catalog.datasets(),
                    subsets=SUBSETS, filters={"dataset": dataset, "subset": subset})

    @app.get("/samples/{sample_id}", response_class=HTMLResponse)
    def inspector(request: Request, sample_id: str):
        sample = catalog.sample(sample_id)
        if sample is None:
            return page(request, "missing.html", 404, what=f"no sample {sample_id} in this store")
        return page(request, "sample.html", sample=sample, **catalog.inspection(sample_id))

    @app.get("/images/{sample_id}/{which}.png")
    def image(sample_id: str, which: str) -> Response:
        sample = catalog.sample(sample_id)
        if sample is None or which not in ("rainy", "clean") or (which == "clean" and not sample["clean_path"]):
            return refuse(404, f"no {which} image of sample {sample_id}")
        load = (rainy_loader if which == "rainy" else clean_loader)(data_root)
        try:
            return Response(png_bytes(load(sample)), media_type="image/png")
        except Exception as exc:  # noqa: BLE001 — a file changed or broken since ingest: say which and why
            return refuse(422, f"{sample[which + '_path']}: cannot be read any more ({type(exc).__name__}: {exc})")

    @app.get("/files/{root}/{path:path}")
    def file(root: str, path: str) -> Response:
        if root not in roots:
            return refuse(404, f"no root {root!r}: data or store")
        return FileResponse(inside(roots[root], path))

    @app.get("/reports", response_class=HTMLResponse)
    def reports(request: Request):
        card_path = store.reports / "dataset-card.md"
        card = card_path.read_text(encoding="utf-8") if card_path.exists() else None
        sheets = []
        for png in sorted((store.reports / "retrieval").glob("retrieval-*.png")):
            listed = png.with_suffix(".json")
            sheets.append({"name": png.stem.removeprefix("retrieval-"), "file": png.relative_to(store.root).as_posix(),
                           "queries": json.loads(listed.read_text())["queries"] if listed.exists() else []})
        plots = [p.relative_to(store.root).as_posix() for p in sorted(store.reports.glob("*.png"))]
        return page(request, "reports.html", card=_linked(catalog, card) if card else None, sheets=sheets,
                    plots=plots)

    @app.get("/studies", response_class=HTMLResponse)
    def study_list(request: Request):
        return page(request, "studies.html", studies=studies(store))

    @app.get("/studies/{name}", response_class=HTMLResponse)
    def study(request: Request, name: str, reviewer: str = ""):
        try:
            drawn = load_study(store, name)
        except (FileNotFoundError, ValueError) as exc:
            return page(request, "missing.html", 404, what=str(exc))
        mine = ({item: row["decision"] for item, row in in_force(read_all(store), STUDY, name, reviewer).items()}
                if reviewer else {})
        pairs = [dict(catalog.study_pair(item), item=item, answer=mine.get(item)) for item in drawn["pairs"]]
        return page(request, "study.html", study=drawn, pairs=pairs, reviewer=reviewer,
                    answered=sum(p["answer"] is not None for p in pairs))

    @app.post("/api/reviews")
    def decide(request: Request, body: ReviewIn) -> JSONResponse:
        if (denied := check_token(request)) is not None:
            return denied
        if body.kind == STUDY and (body.study not in studies(store)
                                   or body.item not in load_study(store, body.study)["pairs"]):
            return refuse(400, f"{body.item!r} is not a pair of study {body.study!r}")
        if body.kind == REFERENCE and not catalog.candidates_include(body.item):
            return refuse(400, f"{body.item!r} is not a real rainy image with a quality score")
        try:
            row = append(store, Decision(body.kind, body.item, body.decision, body.reviewer, body.study))
        except ReviewRefused as exc:
            return refuse(400, str(exc))
        _catalog_knows_reviews(store)
        return JSONResponse(_plain(row))

    @app.post("/api/reviews/undo")
    def undo(request: Request, body: UndoIn) -> JSONResponse:
        if (denied := check_token(request)) is not None:
            return denied
        try:
            row = undo_last(store, body.reviewer)
        except ReviewRefused as exc:
            return refuse(400, str(exc))
        if row is None:
            return refuse(409, "nothing to undo: you have no reference decision in force")
        return JSONResponse(_plain(row))

    return app


def _linked(catalog: Catalog, text: str) -> list[tuple[str, bool]]:
    """The text in pieces, (piece, whether it is the id of a sample in the store): what the page links."""
    mentioned = sorted(set(SAMPLE_ID.findall(text)))
    known: set[str] = set()
    if mentioned:
        listed = ", ".join(f"'{m}'" for m in mentioned)   # hex digits only: safe to quote
        known = {r["sample_id"] for r in catalog.rows(f"select sample_id from samples where sample_id in ({listed})")}
    return [(piece, piece in known) for piece in re.split(f"({SAMPLE_ID.pattern})", text) if piece]


def _plain(row: dict) -> dict:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def _catalog_knows_reviews(store: Store) -> None:
    """The catalog's `reviews` view appears with the first decision (later ones are read through its glob)."""
    if not query(store, "select 1 from reviews limit 1"):
        refresh_catalog(store)
