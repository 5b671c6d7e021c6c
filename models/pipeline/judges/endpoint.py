"""Judge through an OpenAI-compatible chat endpoint: how vLLM or SGLang serve 7-8 B VLMs at throughput,
and what `python -m models.pipeline.judges.serve` offers for a local model.

    judge_1:
      kind: endpoint_judge
      options: {base_url: "http://127.0.0.1:8000/v1", model: llava-next, prompt: rain-pair-v1,
                api_key_env: RAINRAG_JUDGE_API_KEY}

Each case is one POST to `<base_url>/chat/completions` holding the query image and its references as
base64 PNG data URLs, then the versioned question; `temperature` 0, so an endpoint that honours it
answers deterministically; with `choice_field` the server is also told to answer only "yes" or "no"
(vLLM's structured outputs), so no vote is an abstention for the way it was worded. Cases run `concurrency` at a time. A call that times out, cannot connect
or gets a 429 / 5xx is retried `max_retries` times with exponential backoff; a call that still fails,
or any other status, is that case's "error" verdict with the reason: never an exception that loses
the other cases' votes. The API key is read from the environment variable the options name, so it
never enters the profile, the fingerprint or the votes.
"""
from __future__ import annotations

import base64
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Sequence

import httpx
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from models.pipeline.judges.answers import parse_answer
from models.pipeline.judges.vlm import judge_chat, load_template
from models.pipeline.loading import parse_options
from models.pipeline.profiles import ModelSpec, Profile
from models.pipeline.roles import JudgeCase, Verdict

RETRIED_STATUS = {408, 429, 500, 502, 503, 504}
ANSWER_CHOICES = ("yes", "no")   # what a structured answer may be (`choice_field`)


class EndpointJudgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str                                 # e.g. http://127.0.0.1:8000/v1
    model: str                                    # the served model's name (GET <base_url>/models)
    prompt: str                                   # a version under judges/prompts/
    api_key_env: str | None = None                # name of the environment variable holding the key
    max_new_tokens: int = Field(8, ge=1)
    max_references: int = Field(3, ge=0)
    max_image_side: int = Field(672, ge=16)       # shrunk before encoding: bounds request size and tokens
    timeout_s: float = Field(120.0, gt=0)         # per request
    max_retries: int = Field(2, ge=0)             # after the first try
    backoff_s: float = Field(1.0, ge=0)           # first wait between tries; doubles each time
    concurrency: int = Field(8, ge=1)             # requests in flight at once
    # ask the server to answer exactly "yes" or "no": vLLM's `structured_outputs` {"choice": ...}, or
    # `guided_choice` for a vLLM older than that field (v0.12 removed it). None: a free answer,
    # parsed like a local judge's. Servers without structured decoding ignore or refuse the field.
    choice_field: Literal["structured_outputs", "guided_choice"] | None = None


def data_url(image: Image.Image) -> str:
    """A PNG data URL: lossless, so the endpoint sees the very pixels a local judge would."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def openai_messages(chat: list[dict], images: list[Image.Image]) -> list[dict]:
    """The processor-format chat with its image items replaced by OpenAI `image_url` items, in order."""
    remaining = iter(images)
    messages = []
    for message in chat:
        content = [{"type": "image_url", "image_url": {"url": data_url(next(remaining))}} if item["type"] == "image"
                   else item for item in message["content"]]
        messages.append({"role": message["role"], "content": content})
    return messages


class EndpointJudge:
    def __init__(self, spec: ModelSpec, profile: Profile):
        self.options = parse_options(spec, EndpointJudgeOptions)
        self.template = load_template(spec, self.options.prompt)
        self.prompt_version, self.prompt_hash = self.template.version, self.template.sha256
        headers = {}
        if self.options.api_key_env:
            key = os.environ.get(self.options.api_key_env)
            if not key:
                raise ValueError(f"adapter {spec.kind!r}: the API key variable {self.options.api_key_env} "
                                 "named in the profile's options is not set")
            headers["Authorization"] = f"Bearer {key}"
        self.url = self.options.base_url.rstrip("/") + "/chat/completions"
        self.client = httpx.Client(timeout=self.options.timeout_s, headers=headers,
                                   limits=httpx.Limits(max_connections=self.options.concurrency))

    def judge(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        cases = list(cases)
        if len(cases) <= 1:
            return [self._judge_one(case) for case in cases]
        with ThreadPoolExecutor(max_workers=min(self.options.concurrency, len(cases))) as pool:
            return list(pool.map(self._judge_one, cases))   # map keeps the input order

    def _judge_one(self, case: JudgeCase) -> Verdict:
        started = time.perf_counter()
        try:
            chat, images = judge_chat(self.template, case, self.options.max_references, self.options.max_image_side)
            body = {"model": self.options.model, "messages": openai_messages(chat, images),
                    "max_tokens": self.options.max_new_tokens, "temperature": 0.0}
            if self.options.choice_field == "structured_outputs":
                body["structured_outputs"] = {"choice": list(ANSWER_CHOICES)}
            elif self.options.choice_field == "guided_choice":
                body["guided_choice"] = list(ANSWER_CHOICES)
        except Exception as error:  # noqa: BLE001  (an unreadable case is its own error, not the batch's)
            return Verdict("error", "", time.perf_counter() - started, f"bad case: {type(error).__name__}: {error}")
        text, error = self._post(body)
        latency = time.perf_counter() - started
        if error is not None:
            return Verdict("error", "", latency, error)
        return Verdict(parse_answer(text), text, latency)

    def _post(self, body: dict) -> tuple[str, str | None]:
        """(answer text, None), or ("", why the call failed after its retries)."""
        why = ""
        for attempt in range(self.options.max_retries + 1):
            if attempt:
                time.sleep(self.options.backoff_s * 2 ** (attempt - 1))
            try:
                response = self.client.post(self.url, json=body)
            except httpx.HTTPError as error:   # connect failures, timeouts, broken connections
                why = f"{type(error).__name__}: {error or 'no detail'}"
                continue
            if response.status_code in RETRIED_STATUS:
                why = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                return "", f"HTTP {response.status_code} from {self.url}: {response.text[:200]}"
            try:
                return response.json()["choices"][0]["message"]["content"] or "", None
            except (ValueError, KeyError, IndexError, TypeError) as error:
                return "", f"malformed response from {self.url} ({type(error).__name__}): {response.text[:200]}"
        tries = self.options.max_retries + 1
        return "", f"{self.url} failed {tries} time{'s' if tries > 1 else ''}; last: {why}"


def endpoint_judge(spec: ModelSpec, profile: Profile) -> EndpointJudge:
    return EndpointJudge(spec, profile)
