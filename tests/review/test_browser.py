"""The review app end to end, in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
driven by Selenium; nothing downloads a browser): reference review with the keyboard, a reload, an undo,
the inspector from the disagreement list, a study answered by two reviewers, and a screenshot of each page.

`.ci/run` installs the browser; elsewhere `make browser` does (the test is skipped, saying so, where it is
missing outside CI). RAINRAG_SCREENSHOTS=<folder> keeps the screenshots (the README's come from there).
"""
from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from storage.reviews import read_all
from tasks.audit import dataset_card
from tasks.retrieve import retrieval_sheets
from tasks.reviewing.study import create_study
from tasks.run_context import RunContext

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("CI needs Debian's chromium and chromium-driver: .ci/run installs them", pytrace=False)
    pytest.skip("needs Debian's chromium and chromium-driver (make browser installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def served(distilled_copy, offline_profile, tmp_path):
    """(base URL, store): `python -m review serve` on the distilled corpus, stopped by its PID afterwards."""
    data, store = distilled_copy
    dataset_card(store)
    run = RunContext.of(store, data, offline_profile)
    retrieval_sheets(store, run.shards(), run.pool(), data, k3=2)
    create_study(store, pairs=4, seed=0)
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "review", "serve", "--store", str(store.root), "--data-root",
                               str(data), "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/studies", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail(f"the review server did not start: {(tmp_path / 'serve.log').read_text()[-2000:]}")
        yield base, store
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture()
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1000", "--disable-extensions"):
        options.add_argument(flag)
    os.environ["SE_OFFLINE"] = "true"   # Selenium Manager must not look for a driver online
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def shoot(driver, name: str, heading: str) -> None:
    """A screenshot that shows a rendered page: its heading, the app's header bar, many colours."""
    assert heading in driver.find_element(By.TAG_NAME, "h1").text, driver.page_source[:2000]
    assert driver.find_element(By.CSS_SELECTOR, "header strong").text == "rainrag review"
    driver.execute_script("window.scrollTo(0, 0)")
    png = driver.get_screenshot_as_png()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] >= 1000 and len(set(image.resize((320, 250)).getdata())) > 300, name
    if folder := os.environ.get("RAINRAG_SCREENSHOTS"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        small = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)
        small.quantize(colors=128).save(Path(folder) / f"review-{name}.png", optimize=True)   # README-sized


def wait_for(driver, condition, what: str):
    return WebDriverWait(driver, 20).until(lambda d: condition(d), message=what)


def set_reviewer(driver, name: str) -> None:
    box = driver.find_element(By.ID, "reviewer")
    box.clear()
    box.send_keys(name, Keys.TAB)


def tile_states(driver) -> list[str]:
    return [t.get_attribute("data-decision") for t in driver.find_elements(By.CSS_SELECTOR, "#grid .tile")]


def press(driver, key: str) -> None:
    webdriver.ActionChains(driver).send_keys(key).perform()


def test_review_in_the_browser(served, browser):
    base, store = served
    browser.get(f"{base}/references")
    set_reviewer(browser, "ann")
    tiles = browser.find_elements(By.CSS_SELECTOR, "#grid .tile")
    items = [t.get_attribute("data-item") for t in tiles]
    tiles[0].click()   # focus the first tile (a click on the image, not on a button)
    press(browser, "a")
    wait_for(browser, lambda d: tile_states(d)[0] == "accepted", "first tile accepted")
    press(browser, "r")   # the focus moved on to the second tile
    wait_for(browser, lambda d: tile_states(d)[1] == "rejected", "second tile rejected")
    press(browser, Keys.ARROW_RIGHT)   # skip the third
    press(browser, "a")
    wait_for(browser, lambda d: tile_states(d)[3] == "accepted", "fourth tile accepted")
    assert browser.find_element(By.ID, "progress").text.startswith("3 of ")
    browser.refresh()   # decisions are saved: a reload shows them
    wait_for(browser, lambda d: tile_states(d)[:4] == ["accepted", "rejected", "pending", "accepted"], "after reload")
    shoot(browser, "references", "Reference review")
    press(browser, "u")   # undo ann's last decision: the fourth tile is pending again
    wait_for(browser, lambda d: tile_states(d)[3] == "pending", "undo")
    assert "is pending again" in browser.find_element(By.ID, "message").text

    browser.get(f"{base}/samples?list=disagree")
    shoot(browser, "lists", "judges disagree")
    link = browser.find_element(By.CSS_SELECTOR, "a.sample-link")
    sample_id = link.text
    link.click()
    wait_for(browser, lambda d: sample_id in d.find_element(By.TAG_NAME, "h1").text, "inspector")
    answers = {row.find_elements(By.TAG_NAME, "td")[1].text for row in
               browser.find_elements(By.CSS_SELECTOR, "table.votes tbody tr")}
    assert answers >= {"yes", "no"}   # a disagreement: both answers are on the page
    assert browser.find_element(By.ID, "stage").text in ("kept", "judges")
    wait_for(browser, lambda d: all(i.get_attribute("naturalWidth") != "0"
                                    for i in d.find_elements(By.CSS_SELECTOR, ".pair img, .references img")),
             "images loaded")
    shoot(browser, "inspector", "Sample")

    for reviewer, key in (("ann", "k"), ("bob", "d")):
        browser.get(f"{base}/studies")
        browser.find_element(By.CSS_SELECTOR, "a.study-link").click()
        browser.find_element(By.ID, "study-reviewer").send_keys(reviewer, Keys.ENTER)
        wait_for(browser, lambda d: d.find_elements(By.ID, "study-progress"), "study opened")
        assert "votes" not in browser.page_source and "judge_1" not in browser.page_source   # blind
        for _ in range(4):
            press(browser, key)
            time.sleep(0.2)
        wait_for(browser, lambda d: d.find_element(By.ID, "study-done").is_displayed(), f"{reviewer} done")
        assert browser.find_element(By.ID, "study-progress").text == f"4 of 4 answered by {reviewer}"
    shoot(browser, "study", "Study")
    browser.get(f"{base}/reports")
    shoot(browser, "reports", "Reports")

    rows = read_all(store)
    references = [(r["item"], r["decision"], r["action"], r["reviewer"]) for r in rows if r["kind"] == "reference"]
    assert references == [(items[0], "accepted", "decide", "ann"), (items[1], "rejected", "decide", "ann"),
                          (items[3], "accepted", "decide", "ann"), (items[3], "pending", "undo", "ann")]
    study = sorted((r["reviewer"], r["decision"]) for r in rows if r["kind"] == "study")
    assert study == [("ann", "keep")] * 4 + [("bob", "discard")] * 4
    assert len({r["item"] for r in rows if r["kind"] == "study"}) == 4
