// The review app's few interactions: the reviewer's name (and token) kept in this browser, decisions
// posted at once, the keyboard. Everything shown is rendered by the server.
"use strict";

const nameBox = document.getElementById("reviewer");
const tokenBox = document.getElementById("token");
nameBox.value = localStorage.getItem("rainrag-reviewer") || "";
nameBox.addEventListener("change", () => localStorage.setItem("rainrag-reviewer", nameBox.value.trim()));
if (tokenBox) {
  tokenBox.value = sessionStorage.getItem("rainrag-token") || "";
  tokenBox.addEventListener("change", () => sessionStorage.setItem("rainrag-token", tokenBox.value));
}

function say(text, kind) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = kind;
}

async function post(url, body) {
  const headers = {"Content-Type": "application/json"};
  if (tokenBox) headers["X-Review-Token"] = tokenBox.value;
  const response = await fetch(url, {method: "POST", headers, body: JSON.stringify(body)});
  const answer = await response.json();
  if (!response.ok) { say(answer.error || response.statusText, "error"); return null; }
  return answer;
}

function moveFocus(items, current, step) {
  const at = items.indexOf(current);
  const next = items[Math.min(items.length - 1, Math.max(0, (at < 0 ? 0 : at + step)))];
  if (next) { next.focus(); next.scrollIntoView({block: "nearest"}); }
}

function columns(items) {
  if (items.length < 2) return 1;
  const top = items[0].offsetTop;
  const n = items.findIndex(el => el.offsetTop !== top);
  return n < 0 ? items.length : n;
}

function referenceReview() {
  const tiles = Array.from(document.querySelectorAll("#grid .tile"));
  const progress = document.getElementById("progress");
  const show = (tile, decision, reviewer) => {
    const before = tile.dataset.decision;
    tile.dataset.decision = decision;
    tile.classList.remove("accepted", "rejected", "pending");
    tile.classList.add(decision);
    tile.querySelector(".verdict").textContent = decision;
    tile.querySelector(".who").textContent = decision === "pending" ? "" : reviewer;
    const decided = Number(progress.dataset.decided) + (before === "pending") - (decision === "pending");
    progress.dataset.decided = decided;
    progress.textContent = `${decided} of ${progress.dataset.total} decided`;
  };
  const decide = async (tile, decision) => {
    const row = await post("/api/reviews", {kind: "reference", item: tile.dataset.item, decision,
                                            reviewer: nameBox.value});
    if (!row) return;
    show(tile, decision, row.reviewer);
    say(`${row.item}: ${decision} by ${row.reviewer}`, "ok");
    moveFocus(tiles, tile, 1);
  };
  const undo = async () => {
    const row = await post("/api/reviews/undo", {reviewer: nameBox.value});
    if (!row) return;
    const tile = tiles.find(t => t.dataset.item === row.item);
    if (tile) { show(tile, row.decision, row.reviewer); tile.focus(); }
    say(`undone: ${row.item} is ${row.decision} again`, "ok");
  };
  tiles.forEach(tile => tile.querySelectorAll("button").forEach(button =>
    button.addEventListener("click", () => decide(tile, button.dataset.act))));
  document.addEventListener("keydown", event => {
    if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
    const tile = document.activeElement.closest ? document.activeElement.closest(".tile") : null;
    const keys = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(tiles), ArrowUp: -columns(tiles)};
    if (event.key in keys) { moveFocus(tiles, tile, tile ? keys[event.key] : 0); event.preventDefault(); }
    else if (event.key === "a" && tile) decide(tile, "accepted");
    else if (event.key === "r" && tile) decide(tile, "rejected");
    else if (event.key === "u") undo();
  });
  if (tiles.length) tiles[0].focus();
}

function studyReview() {
  const study = document.getElementById("study");
  const pairs = Array.from(document.querySelectorAll(".study-pair"));
  const progress = document.getElementById("study-progress");
  const answer = async (pair, decision) => {
    const row = await post("/api/reviews", {kind: "study", study: study.dataset.study, item: pair.dataset.item,
                                            decision, reviewer: study.dataset.reviewer});
    if (!row) return;
    pair.classList.remove("open", "keep", "discard");
    pair.classList.add(decision);
    pair.querySelector(".given").textContent = decision;
    const answered = pairs.filter(p => !p.classList.contains("open")).length;
    progress.textContent = `${answered} of ${pairs.length} answered by ${study.dataset.reviewer}`;
    document.getElementById("study-done").hidden = answered < pairs.length;
    moveFocus(pairs, pair, 1);
  };
  pairs.forEach(pair => pair.querySelectorAll("button").forEach(button =>
    button.addEventListener("click", () => answer(pair, button.dataset.act))));
  document.addEventListener("keydown", event => {
    if (event.target.tagName === "INPUT") return;
    const pair = document.activeElement.closest ? document.activeElement.closest(".study-pair") : null;
    if (event.key === "ArrowDown" || event.key === "ArrowRight") { moveFocus(pairs, pair, 1); event.preventDefault(); }
    else if (event.key === "ArrowUp" || event.key === "ArrowLeft") { moveFocus(pairs, pair, -1); event.preventDefault(); }
    else if (event.key === "k" && pair) answer(pair, "keep");
    else if (event.key === "d" && pair) answer(pair, "discard");
  });
  const first = pairs.find(p => p.classList.contains("open")) || pairs[0];
  if (first) first.focus();
}
