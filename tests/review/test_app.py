"""The review app over a distilled store, through HTTP: what it refuses to serve or record, and its pages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from review.app import TOKEN_HEADER, create_app
from review.files import Refused, inside
from storage.catalog import query
from tasks.audit import dataset_card
from tasks.retrieve import retrieval_sheets
from tasks.run_context import RunContext
from storage.reviews import read_all

SECRET_TEXT = "not for the browser"


@pytest.fixture()
def app_on(distilled_copy, tmp_path):
    """(client without token, client whose server wants a token, data root, store, a file outside both)."""
    data, store = distilled_copy
    outside = tmp_path / "outside.txt"
    outside.write_text(SECRET_TEXT)
    os.symlink(outside, data / "link-out.txt")
    os.symlink(tmp_path, data / "dir-out")
    return (TestClient(create_app(store.root, data)), TestClient(create_app(store.root, data, token="s3cret")),
            data, store, outside)


def _reference(store) -> str:
    [row] = query(store, "select sample_id from quality where is_real and status = 'ok' order by 1 limit 1")
    return row["sample_id"]


@pytest.mark.parametrize("path", ["..%2Foutside.txt", "%2E%2E/outside.txt", "SPA-Data/%2E%2E/%2E%2E/outside.txt",
                                  "%2Fetc%2Fpasswd", "link-out.txt", "dir-out/outside.txt"])
def test_paths_outside_the_data_root_and_the_store_are_refused(app_on, path):
    """(HTTP clients resolve a literal `..` before sending it: the encoded forms reach the server as `..`.)"""
    client, _, _, _, _ = app_on
    response = client.get(f"/files/data/{path}")
    assert response.status_code == 403 and SECRET_TEXT not in response.text
    assert "served" in response.json()["error"]


@pytest.mark.parametrize("path", ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "link-out.txt", ""])
def test_the_path_rule_itself_refuses_what_leads_out(app_on, path):
    _, _, data, _, _ = app_on
    with pytest.raises(Refused):
        inside(data, path)


def test_files_inside_the_roots_are_served(app_on):
    client, _, data, store, _ = app_on
    dataset_card(store)
    rainy = query(store, "select rainy_path from samples order by sample_id limit 1")[0]["rainy_path"]
    assert client.get(f"/files/data/{rainy}").content == (data / rainy).read_bytes()
    assert client.get("/files/store/reports/dataset-card.md").text == (store.reports / "dataset-card.md").read_text()
    assert client.get("/files/store/nothing-here.png").status_code == 404
    assert client.get("/files/elsewhere/x").status_code == 404


def test_a_decision_needs_a_name_and_the_token_when_one_is_set(app_on):
    open_client, guarded, _, store, _ = app_on
    item = _reference(store)
    body = {"kind": "reference", "item": item, "decision": "rejected"}
    nameless = open_client.post("/api/reviews", json=body)
    assert nameless.status_code == 400 and "reviewer name is required" in nameless.json()["error"]
    assert guarded.post("/api/reviews", json={**body, "reviewer": "ann"}).status_code == 403
    wrong = guarded.post("/api/reviews", json={**body, "reviewer": "ann"}, headers={TOKEN_HEADER: "guess"})
    assert wrong.status_code == 403 and "token" in wrong.json()["error"]
    assert guarded.post("/api/reviews/undo", json={"reviewer": "ann"}, headers={TOKEN_HEADER: "x"}).status_code == 403
    assert read_all(store) == []   # nothing refused was recorded
    ok = guarded.post("/api/reviews", json={**body, "reviewer": "ann"}, headers={TOKEN_HEADER: "s3cret"})
    assert ok.status_code == 200 and ok.json()["reviewer"] == "ann"
    unknown = open_client.post("/api/reviews", json={**body, "item": "0000000000000000", "reviewer": "ann"})
    assert unknown.status_code == 400 and "not a real rainy image" in unknown.json()["error"]
    assert [(r["item"], r["decision"], r["reviewer"]) for r in read_all(store)] == [(item, "rejected", "ann")]
    assert query(store, "select count(*) as n from reviews") == [{"n": 1}]   # the catalog has the view


def test_pages_render_the_store(app_on, offline_profile):
    client, _, data, store, _ = app_on
    dataset_card(store)
    run = RunContext.of(store, data, offline_profile)
    assert retrieval_sheets(store, run.shards(), run.pool(), data, k3=2)
    page = client.get("/references")
    assert page.status_code == 200 and page.text.count('class="tile') == len(query(
        store, "select 1 from quality where is_real and status = 'ok'"))
    disagree = client.get("/samples?list=disagree")
    first = disagree.text.split('href="/samples/')[1].split('"')[0]
    inspector = client.get(f"/samples/{first}")
    votes = query(store, f"select judge, answer from votes where sample_id = '{first}' order by judge")
    assert inspector.status_code == 200 and all(f"<td>{v['judge']}</td><td>{v['answer']}</td>" in inspector.text
                                                for v in votes)
    assert client.get(f"/images/{first}/rainy.png").headers["content-type"] == "image/png"
    assert client.get("/samples/ffffffffffffffff").status_code == 404
    for url in ("/samples?list=kept&subset=DRS", "/samples?list=discarded&page_no=1", "/reports", "/studies"):
        assert client.get(url).status_code == 200, url
    reports = client.get("/reports").text
    sheet = json.loads((store.reports / "retrieval" / "retrieval-DRS.json").read_text())["queries"]
    assert "retrieval-DRS.png" in reports and sheet   # each line of a sheet links its samples to the inspector
    assert all(f'href="/samples/{line["query"]}"' in reports and f'href="/samples/{line["references"][0]}"' in reports
               for line in sheet)
    assert "http://127.0.0.1:8765/samples?list=disagree" in reports   # the card's Browse section


def test_the_reports_page_links_the_samples_a_card_names(app_on):
    """The corpus store's card has no finding; a card's findings name samples like these two lines do."""
    client, _, _, store, _ = app_on
    dataset_card(store)
    known = _reference(store)
    card = store.reports / "dataset-card.md"
    card.write_text(card.read_text() + f"\n| {known} | SPA-Data | shifted |\n| 0123456789abcdef | gone |\n")
    reports = client.get("/reports").text
    assert f'<a href="/samples/{known}">{known}</a>' in reports
    assert "0123456789abcdef" in reports and 'href="/samples/0123456789abcdef"' not in reports   # not in the store


def test_the_reference_grid_filters_sorts_and_hides_decided_images(app_on):
    client, _, _, store, _ = app_on
    rows = query(store, "select sample_id, dataset, rainy_quality from quality where is_real and status = 'ok'")

    def shown(**params) -> list[str]:
        page = client.get("/references", params=params)
        assert page.status_code == 200
        return [part.split('"')[0] for part in page.text.split('data-item="')[1:]]

    dataset = sorted({r["dataset"] for r in rows})[0]
    assert sorted(shown(dataset=dataset)) == sorted(r["sample_id"] for r in rows if r["dataset"] == dataset)
    scores = sorted(r["rainy_quality"] for r in rows)
    low, high = scores[len(scores) // 4], scores[3 * len(scores) // 4]
    assert sorted(shown(low=low, high=high)) == sorted(r["sample_id"] for r in rows
                                                       if low <= r["rainy_quality"] <= high)
    best_first = shown()
    assert best_first == [r["sample_id"] for r in sorted(rows, key=lambda r: (-r["rainy_quality"], r["sample_id"]))]
    assert shown(sort="quality_asc") == [r["sample_id"] for r in sorted(rows, key=lambda r: (r["rainy_quality"],
                                                                                             r["sample_id"]))]
    client.post("/api/reviews", json={"kind": "reference", "item": best_first[0], "decision": "accepted",
                                      "reviewer": "ann"})
    assert shown(undecided="true") == best_first[1:]
    assert "1 of " in client.get("/references").text


def test_serve_refuses_a_folder_that_is_no_store(tmp_path):
    done = subprocess.run([sys.executable, "-m", "review", "serve", "--store", str(tmp_path), "--data-root",
                           str(tmp_path)], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "is not a rainrag store" in done.stderr
