"""The OpenAI-compatible endpoint judge against real servers on 127.0.0.1: the rainrag judge server
serving the tiny LLaVA-NeXT (a subprocess, as a user runs it), a small scripted server for retries,
and a closed port."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from models.pipeline.judges.prompts import load_prompt
from models.pipeline.profiles import ModelSpec, Profile
from models.pipeline.registry import load_role
from models.pipeline.roles import ROLES, JudgeCase

REPO = Path(__file__).resolve().parents[2]
SERVED_NAME = "tiny-llava-next"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def endpoint_profile(base_url: str, **options) -> Profile:
    """A profile whose judge_1 is the endpoint judge (the other roles are irrelevant here)."""
    spec = ModelSpec(kind="endpoint_judge", batch_size=4,
                     options={"base_url": base_url, "model": SERVED_NAME, "prompt": "rain-pair-v1",
                              "max_new_tokens": 4, "max_image_side": 32, **options})
    return Profile.model_validate({"name": "endpoint-test", "roles": {role: spec for role in ROLES}})


@pytest.fixture(scope="module")
def cases(photos) -> list[JudgeCase]:
    return [JudgeCase(photos[0], photos[1], [photos[1], photos[2]]),
            JudgeCase(photos[1], None, [photos[0]]),
            JudgeCase(photos[2], photos[2], [])]


@pytest.fixture(scope="module")
def judge_server(tiny_profile):
    """`python -m models.pipeline.judges.serve` on a free loopback port, serving the tiny LLaVA-NeXT."""
    port = free_port()
    model_dir = tiny_profile.models_dir / "tiny" / "llava_next"
    process = subprocess.Popen([sys.executable, "-m", "models.pipeline.judges.serve", "--model-dir", str(model_dir),
                                "--name", SERVED_NAME, "--port", str(port), "--max-image-side", "32"], cwd=REPO)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the judge server exited with status {process.returncode}")
            try:
                httpx.get(f"{base_url}/models", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_server_lists_its_model(judge_server):
    models = httpx.get(f"{judge_server}/models").json()
    assert [entry["id"] for entry in models["data"]] == [SERVED_NAME]


def test_the_endpoint_judge_answers_as_the_local_judge_does(judge_server, tiny_profile, cases):
    local = load_role(tiny_profile, "judge_1").judge(cases)
    remote_judge = load_role(endpoint_profile(judge_server), "judge_1")
    remote = remote_judge.judge(cases)
    assert [v.raw for v in remote] == [v.raw for v in local]          # PNG data URLs are lossless, decoding greedy
    assert [v.answer for v in remote] == [v.answer for v in local]
    assert all(v.error is None and v.latency_s > 0 for v in remote)
    template = load_prompt("rain-pair-v1")
    assert (remote_judge.prompt_version, remote_judge.prompt_hash) == (template.version, template.sha256)


@pytest.mark.parametrize("body_change, status, message", [
    ({"model": "another-model"}, 404, "is not served here"),
    ({"temperature": 0.7}, 400, "greedily only"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]},
     400, "base64 data URL"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {
        "url": "data:image/png;base64,bm90IGFuIGltYWdl"}}]}]}, 400, "does not hold a readable image"),
])
def test_the_server_says_what_is_wrong_with_a_request(judge_server, body_change, status, message):
    body = {"model": SERVED_NAME, "messages": [{"role": "user", "content": "Is it raining?"}], **body_change}
    response = httpx.post(f"{judge_server}/chat/completions", json=body, timeout=60)
    assert response.status_code == status and message in response.text


def test_a_closed_port_is_an_error_verdict_for_every_case_with_the_reason(cases):
    judge = load_role(endpoint_profile(f"http://127.0.0.1:{free_port()}/v1", max_retries=1, backoff_s=0.01), "judge_1")
    verdicts = judge.judge(cases)
    assert [v.answer for v in verdicts] == ["error"] * len(cases)
    assert all("failed 2 times" in v.error and "ConnectError" in v.error for v in verdicts)


class ScriptedServer:
    """A real HTTP server on loopback that fails its first `failures` calls with `status`, then answers."""

    def __init__(self, failures: int, status: int = 503):
        self.calls, self.headers, self.bodies = 0, [], []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            self.calls += 1
            self.headers.append(request.headers.get("authorization"))
            self.bodies.append(await request.json())
            if self.calls <= failures:
                return JSONResponse({"error": "busy"}, status_code=status)
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Yes."}}]}

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *_) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_busy_answers_are_retried_a_bounded_number_of_times(cases):
    with ScriptedServer(failures=2) as url:
        verdict = load_role(endpoint_profile(url, max_retries=2, backoff_s=0.01), "judge_1").judge(cases[:1])[0]
    assert (verdict.answer, verdict.raw, verdict.error) == ("yes", "Yes.", None)
    scripted = ScriptedServer(failures=5)
    with scripted as url:
        verdict = load_role(endpoint_profile(url, max_retries=1, backoff_s=0.01), "judge_1").judge(cases[:1])[0]
    assert verdict.answer == "error" and "failed 2 times; last: HTTP 503" in verdict.error
    assert scripted.calls == 2


def test_a_client_error_is_not_retried():
    scripted = ScriptedServer(failures=5, status=422)
    with scripted as url:
        verdict = load_role(endpoint_profile(url, max_retries=3, backoff_s=0.01), "judge_1").judge(
            [JudgeCase(np.zeros((8, 8, 3), np.uint8), None, [])])[0]
    assert verdict.answer == "error" and verdict.error.startswith("HTTP 422") and scripted.calls == 1


def test_the_api_key_comes_from_the_named_environment_variable(cases, monkeypatch):
    monkeypatch.setenv("RAINRAG_TEST_JUDGE_KEY", "secret-123")
    scripted = ScriptedServer(failures=0)
    with scripted as url:
        judge = load_role(endpoint_profile(url, api_key_env="RAINRAG_TEST_JUDGE_KEY"), "judge_1")
        judge.judge(cases[:1])
    assert scripted.headers == ["Bearer secret-123"]
    monkeypatch.delenv("RAINRAG_TEST_JUDGE_KEY")
    with pytest.raises(ValueError, match="RAINRAG_TEST_JUDGE_KEY .* is not set"):
        load_role(endpoint_profile("http://127.0.0.1:9/v1", api_key_env="RAINRAG_TEST_JUDGE_KEY", max_retries=0),
                  "judge_1")


@pytest.mark.parametrize("field, expected", [
    ("structured_outputs", {"structured_outputs": {"choice": ["yes", "no"]}}),
    ("guided_choice", {"guided_choice": ["yes", "no"]}),
    (None, {}),
])
def test_a_structured_yes_no_choice_is_asked_for_in_the_field_the_server_reads(cases, field, expected):
    scripted = ScriptedServer(failures=0)
    with scripted as url:
        verdict = load_role(endpoint_profile(url, choice_field=field), "judge_1").judge(cases[:1])[0]
    assert verdict.answer == "yes"
    [body] = scripted.bodies
    assert {k: body[k] for k in ("structured_outputs", "guided_choice") if k in body} == expected


def test_an_unknown_choice_field_is_refused_with_its_name():
    with pytest.raises(ValueError, match="choice_field"):
        load_role(endpoint_profile("http://127.0.0.1:9/v1", choice_field="grammar"), "judge_1")
