"""Test doubles for a judge (never for the stage under test): a real offline judge that can be slowed
down, and that fails on chosen cases the way a served model fails (a timeout, an outage).

`FailingJudge` wraps any judge in-process. For a flow run in a subprocess, `register()` adds the adapter
kind `test_wrapped_judge` (options: `inner` — the offline judge kind it wraps, `delay_s` — seconds slept
per call); the cases to fail are named by the environment variable FAIL_CASES_ENV ("judge_2:<sample_id>,
..."), which is deliberately not part of any fingerprint: it stands for a transient outage.
"""
from __future__ import annotations

import os
import time
from typing import Sequence

from models.pipeline.roles import Judge, JudgeCase, Verdict

FAIL_CASES_ENV = "RAINRAG_TEST_FAIL_CASES"
KIND = "test_wrapped_judge"


class FailingJudge:
    """`inner`'s verdicts, except an "error" verdict for the cases whose sample_id is in `fail_ids`
    (or, with raise_on_fail, an exception for the whole call)."""

    def __init__(self, inner: Judge, fail_ids: set[str], raise_on_fail: bool = False, delay_s: float = 0.0):
        self.inner, self.fail_ids, self.raise_on_fail, self.delay_s = inner, fail_ids, raise_on_fail, delay_s
        self.prompt_version, self.prompt_hash = inner.prompt_version, inner.prompt_hash
        self.asked: list[str] = []

    def judge(self, cases: Sequence[JudgeCase]) -> list[Verdict]:
        time.sleep(self.delay_s)
        ids = [case.context["sample_id"] for case in cases]
        self.asked += ids
        if self.raise_on_fail and self.fail_ids & set(ids):
            raise ConnectionError("judge endpoint unreachable (simulated)")
        verdicts = self.inner.judge(cases)
        return [Verdict("error", "", 0.0, "TimeoutError: judge did not answer (simulated)") if sid in self.fail_ids
                else v for sid, v in zip(ids, verdicts)]


def register() -> None:
    """Register the `test_wrapped_judge` adapter kind (idempotent)."""
    from models.pipeline.registry import register_adapter
    register_adapter(KIND, wrapped)


def wrapped(spec, profile) -> FailingJudge:
    from models.pipeline.registry import adapter
    options = dict(spec.options)
    inner_kind, delay_s, role = options.pop("inner"), float(options.pop("delay_s", 0.0)), options.pop("role")
    inner = adapter(inner_kind)(spec.model_copy(update={"kind": inner_kind, "options": options}), profile)
    wanted = [c.split(":", 1) for c in os.environ.get(FAIL_CASES_ENV, "").split(",") if c]
    return FailingJudge(inner, {sid for r, sid in wanted if r == role}, delay_s=delay_s)
