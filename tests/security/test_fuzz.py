"""Schemathesis against the app's own OpenAPI: a real `llmportal serve` process (temp SQLite, one
model on the scripted fake upstream), called logged in. Whatever the generated input, the
answer is never a 5xx, its status, media type and body are the ones the document gives for the
operation, and every error is JSON {"error": str}. Then sequences that follow the links
schemathesis infers (create -> read -> update -> delete) with the same checks, so the answers
for real resources are held to the document too, not only 404s for made-up ids."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures import upstreams
from tests.fixtures.factories import PASSWORD
from tests.fixtures.localstripe import SECRET_KEY as STRIPE_SECRET_KEY
from tests.fixtures.portal_process import cli, portal_env, stop, wait_http
from tests.fixtures.upstreams import FakeUpstream, free_port

fake_upstream = upstreams.fake_upstream

SRC = Path(__file__).resolve().parents[2] / "src"
EMAIL = "fuzz@example.com"
# Bounded for the suite (about a minute); LLMPORTAL_FUZZ_EXAMPLES=200 for a longer hunt.
EXAMPLES_PER_OPERATION = int(os.environ.get("LLMPORTAL_FUZZ_EXAMPLES", "15"))
STATEFUL_SCENARIOS = int(os.environ.get("LLMPORTAL_FUZZ_SCENARIOS", "60"))
# The resources a user creates, reads, changes and deletes: where links lead somewhere.
RESOURCES = r"^/api/(stuff|collections|canvas|chat/(sessions|messages|attachments)|files|keys|orgs)"
# Ending the session or changing the password would log the fuzzer out for the operations after.
SKIPPED = {("POST", "/api/auth/logout"), ("POST", "/api/user/password")}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _config(fake_url: str) -> str:
    return (
        'default_model = "oa-plain"\n'
        '[[plans]]\ntier = "UNLIMITED"\nname = "Unlimited"\nmonthly_tokens = 0\napi_keys = 100\n'
        f'[[providers]]\nid = "fake"\ntype = "openai"\nbase_url = "{fake_url}/v1"\n'
        'api_key = "sk-fake"\ntimeout_s = 2\n'
        '[[models]]\nid = "oa-plain"\nprovider = "fake"\nupstream_model = "plain"\n'
        '[[models]]\nid = "embed"\nprovider = "fake"\nupstream_model = "plain"\n'
        'modes = ["embeddings"]\n'
        '[[models]]\nid = "painter"\nprovider = "fake"\nupstream_model = "plain"\n'
        'modes = ["images"]\nimage_cost = 0.04\n'
    )


@pytest.fixture(scope="session")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream, sweep_stripe_url: str
) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "portal.toml").write_text(_config(fake_upstream.url))
    port = free_port()
    env = portal_env(
        tmp,
        f"sqlite+aiosqlite:///{tmp}/fuzz.db",
        port,
        tmp / "portal.toml",
        STRIPE_SECRET_KEY=STRIPE_SECRET_KEY,
        STRIPE_API_BASE=sweep_stripe_url,
        STRIPE_WEBHOOK_SECRET="whsec_fuzz",
    )
    cli(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    cli(env, "user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llmportal", "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health/live", proc, log_path)
        r = httpx.post(f"{url}/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield url, r.cookies["llmportal_session"]
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def api_schema(fuzz_server: tuple[str, str]) -> Any:
    url, _ = fuzz_server
    document = httpx.get(f"{url}/openapi.json").json()
    # Logged in by the session cookie: schemathesis would otherwise send made-up credentials
    # for the documented schemes (authentication is test_authz_sweep.py's job).
    document["components"].pop("securitySchemes")
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    schema = schemathesis.openapi.from_dict(document)
    return schema.exclude(
        func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SKIPPED
    )


def _strategy(operation: Any) -> Any:
    """Valid inputs and invalid ones (wrong types, missing fields, out-of-range values)."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))


def _conforms(case: Any, response: Any) -> None:
    """The schemathesis checks, then the error body, as one AssertionError naming the call."""
    text = response.content[:300].decode(errors="replace")  # a download may be any bytes
    where = f"{case.method} {case.formatted_path}: {response.status_code} {text}"
    try:
        case.validate_response(response, checks=CHECKS)
    except BaseExceptionGroup as exc:  # schemathesis' FailureGroup: the checks that failed
        failed = "; ".join(f"{type(e).__name__}: {e}" for e in exc.exceptions)
        raise AssertionError(f"{where}\n  {failed}"[:1500]) from None
    if response.status_code >= 400 and case.method.upper() != "HEAD":
        content_type = (response.headers.get("content-type") or [""])[0]
        assert content_type.startswith("application/json"), where
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), where


def _settings(max_examples: int, **extra: Any) -> settings:
    options: dict[str, Any] = {
        "deadline": None,
        "database": None,
        "derandomize": "LLMPORTAL_FUZZ_EXAMPLES" not in os.environ,
        "suppress_health_check": list(HealthCheck),
        "report_multiple_bugs": False,
    }
    return settings(max_examples=max_examples, **{**options, **extra})


def test_no_server_errors_and_every_answer_is_documented(
    api_schema: Any, fuzz_server: tuple[str, str]
) -> None:
    url, session = fuzz_server
    failures: list[str] = []
    seen: Counter[int] = Counter()
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:

        @_settings(EXAMPLES_PER_OPERATION)
        @given(case=_strategy(operation))
        def run(case: Any) -> None:
            response = case.call(base_url=url, cookies={"llmportal_session": session}, timeout=30)
            seen[response.status_code] += 1
            _conforms(case, response)

        try:
            run()
        except AssertionError as exc:
            failures.append(str(exc))
    print(
        f"\nschemathesis: {len(operations)} operations, up to {EXAMPLES_PER_OPERATION} examples "
        f"each, {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}"
    )
    if failures:
        pytest.fail("\n".join(failures).replace("\n\n", "\n"))
    # The controls: the fuzzer was logged in and reached the handlers, not only the auth check;
    # and the checks do fail an answer that is not the documented one.
    successes = sum(n for status, n in seen.items() if 200 <= status < 300)
    assert successes > 50 and seen[401] < successes, seen
    profile = api_schema["/api/user/profile"]["GET"].Case()
    sessions = api_schema["/api/chat/sessions"]["GET"].Case()
    answer = sessions.call(base_url=url, cookies={"llmportal_session": session}, timeout=30)
    with pytest.raises(AssertionError, match="JsonSchemaError"):
        _conforms(profile, answer)


OPENAI_BODY = {"model": "oa-plain", "messages": [{"role": "user", "content": "Hello"}]}
ANTHROPIC_BODY = {**OPENAI_BODY, "max_tokens": 32, "system": "Be brief."}
COMPLETIONS = [
    ("/api/chat/completions", OPENAI_BODY, "chat.completion"),
    ("/api/chat/completions", ANTHROPIC_BODY, "message"),
    ("/v1/chat/completions", OPENAI_BODY, "chat.completion"),
    ("/v1/messages", OPENAI_BODY | {"max_tokens": 32}, "message"),
    ("/v1/responses", {"model": "oa-plain", "input": "Hello"}, "response"),
    ("/api/responses", {"model": "oa-plain", "input": "Hello", "instructions": "Hi"}, "response"),
    ("/v1/embeddings", {"model": "embed", "input": ["Hello", "there"]}, "list"),
    ("/v1/images/generations", {"model": "painter", "prompt": "a fox", "n": 2}, "images"),
]


@pytest.mark.parametrize(("path", "body", "kind"), COMPLETIONS)
@pytest.mark.parametrize("stream", [False, True])
def test_completions_answer_as_documented(
    api_schema: Any,
    fuzz_server: tuple[str, str],
    path: str,
    body: dict[str, Any],
    kind: str,
    stream: bool,
) -> None:
    """Random bodies name unknown models: these reach the upstream, in both formats."""
    url, session = fuzz_server
    case = api_schema[path]["POST"].Case(body={**body, "stream": stream})
    response = case.call(base_url=url, cookies={"llmportal_session": session}, timeout=30)
    assert response.status_code == 200, response.text
    _conforms(case, response)
    if stream and kind not in ("list", "images"):
        assert response.headers["content-type"][0].startswith("text/event-stream")
    else:
        answer = response.json()
        if kind == "images":
            assert len(answer["data"]) == 2
        else:
            assert answer["type" if kind == "message" else "object"] == kind


def test_linked_sequences_answer_as_documented(
    api_schema: Any, fuzz_server: tuple[str, str]
) -> None:
    url, session = fuzz_server
    seen: Counter[tuple[str, int]] = Counter()  # (method and path template, status)
    # Collected, not raised: Hypothesis would replay a failing sequence against a server whose
    # state has moved on since, and report that replay as flaky instead of the failure.
    failures: list[str] = []
    scenarios = 0

    machine = api_schema.include(path_regex=RESOURCES).as_state_machine()

    class Sequences(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": url, "cookies": {"llmportal_session": session}, "timeout": 30}

        def validate_response(self, response: Any, case: Any, *_: Any, **__: Any) -> None:
            seen[(f"{case.method.upper()} {case.path}", response.status_code)] += 1
            try:
                _conforms(case, response)
            except AssertionError as exc:
                failures.append(str(exc))

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1

    suites = 0
    while scenarios < STATEFUL_SCENARIOS and suites < 5:
        left = STATEFUL_SCENARIOS - scenarios
        options = _settings(
            left, stateful_step_count=10, phases=[Phase.generate], derandomize=False
        )
        suites += 1
        try:
            seed(suites)(Sequences).run(settings=options)
        except Flaky:
            # The server's state moved on since Hypothesis drew this path (a bundle it saw
            # filled is empty now): what ran was checked; go on with a new suite, as
            # schemathesis' own runner does.
            continue
    if failures:
        pytest.fail("\n".join(sorted(set(failures))).replace("\n\n", "\n"))
    # The control: linked calls reached existing resources (2xx for ids taken from answers).
    followed = {op for (op, status) in seen if "{" in op and status < 300}
    print(
        f"linked sequences: {scenarios} scenarios in {suites} suites, {seen.total()} calls, "
        f"{len(followed)} operations answered 2xx for ids taken from earlier answers"
    )
    assert len(followed) >= 8, seen
