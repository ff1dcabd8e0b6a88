"""`use_cassette`: secret-free recordings, offline replays of model objects, and a clear error for a
request that has no recording (a diff against the nearest recorded request).

Recording goes through vcrpy's record mode over an `httpx2.MockTransport` standing in for the
provider (vcrpy records mock transports as it records real ones); replays use the SDKs' default
network transports, which vcrpy answers before anything is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
import vcr.errors
import yaml

from loopline import Agent, InMemoryStore, tool
from loopline.testing import (
    QUERY_PARAMETERS,
    REQUEST_HEADERS,
    RESPONSE_HEADERS,
    CassetteError,
    assert_result,
    assert_tool_calls,
    call,
    model_requests_blocked,
    reply,
    use_cassette,
)
from sdk_clients import sdk_client

SECRETS = {"api key": "sk-proj-S3cr3tKey0123456789abcdef", "organization": "org-S3cr3tOrganisation",
           "project": "proj_S3cr3tProject", "x-api-key": "sk-ant-api03-S3cr3tAnthropicKey",
           "authorization": "Bearer S3cr3tToken"}


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


def _provider(kind: str) -> httpx2.MockTransport:
    """Answers turn by turn in `kind`'s format (a tool call, then the finish tool), with headers a
    provider sends that must never be recorded."""
    return httpx2.MockTransport(_answerer(kind))


def _answerer(kind: str) -> Callable[[httpx2.Request], httpx2.Response]:
    def answer(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        turn = 1 + sum(1 for m in body.get("messages", body.get("input", []))
                       if m.get("role") == "assistant" or m.get("type") == "function_call")
        said = reply(call("get_weather", city="Oslo")) if turn == 1 else reply(
            call("finish", result="Oslo: sunny", is_success=True))
        headers = {"openai-organization": SECRETS["organization"], "openai-project": SECRETS["project"],
                   "set-cookie": "__cf_bm=S3cr3tCookie", "x-request-id": f"req_{turn}",
                   "anthropic-organization-id": SECRETS["organization"]}
        return httpx2.Response(200, json=said.render(kind, turn=turn), headers=headers)

    return answer


def _client(kind: str, transport: httpx2.BaseTransport | None = None) -> Any:
    """A client carrying every secret the cassette must leave out."""
    if kind == "anthropic":
        return sdk_client(kind, transport=transport, api_key=SECRETS["x-api-key"],
                          default_headers={"authorization": SECRETS["authorization"]})
    return sdk_client(kind, transport=transport, api_key=SECRETS["api key"], organization=SECRETS["organization"],
                      project=SECRETS["project"], default_headers={"x-api-key": SECRETS["x-api-key"]})


MODELS = {"openai": "openai:gpt-4o-mini", "openai_responses": "openai_responses:gpt-5-mini",
          "anthropic": "anthropic:claude-sonnet-4-6"}


def _run(kind: str, client: Any, question: str = "Weather in Oslo?") -> Any:
    agent = Agent("a", tools=[get_weather], llm_provider=kind, store=InMemoryStore())
    result = agent.run(question, model=MODELS[kind], client=client)
    return agent, result


@pytest.fixture(params=list(MODELS))
def recorded(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    kind = request.param
    path = tmp_path / f"{kind}.yaml"
    with use_cassette(path, record=True, note="made by a test against a mock provider"):
        assert not model_requests_blocked()  # recording reaches the provider on purpose
        _, result = _run(kind, _client("anthropic" if kind == "anthropic" else "openai", _provider(kind)))
    assert_result(result, ok=True, value="Oslo: sunny")
    return kind, path


def test_no_key_organisation_project_or_auth_header_reaches_the_file(recorded: tuple[str, Path]) -> None:
    _, path = recorded
    text = path.read_text()
    assert {name: value for name, value in SECRETS.items() if value in text or value.split()[-1] in text} == {}
    assert "S3cr3t" not in text and "set-cookie" not in text.lower()
    data = yaml.safe_load(text)
    assert data["metadata"]["loopline"] == {"note": "made by a test against a mock provider"}
    assert len(data["interactions"]) == 2
    for item in data["interactions"]:
        assert {k.lower() for k in item["request"]["headers"]} <= REQUEST_HEADERS
        assert {k.lower() for k in item["response"]["headers"]} <= RESPONSE_HEADERS
        assert "json" in item["request"]["body"]  # stored parsed


def test_a_model_object_replays_offline_while_requests_are_blocked(recorded: tuple[str, Path]) -> None:
    kind, path = recorded
    assert model_requests_blocked()
    with use_cassette(path):  # the SDK's default network transport: vcrpy answers before it sends
        agent, result = _run(kind, _client("anthropic" if kind == "anthropic" else "openai"))
    assert_result(result, ok=True, value="Oslo: sunny")
    assert_tool_calls(agent, [call("get_weather", city="Oslo"), "finish"])


def test_a_request_with_no_recording_names_it_and_diffs_the_nearest(recorded: tuple[str, Path]) -> None:
    kind, path = recorded
    sdk = "anthropic" if kind == "anthropic" else "openai"
    with pytest.raises(CassetteError) as info, use_cassette(path):
        _run(kind, _client(sdk), question="Weather in Rome?")
    error = info.value
    endpoint = {"openai": "https://api.openai.com/v1/chat/completions",
                "openai_responses": "https://api.openai.com/v1/responses",
                "anthropic": "https://api.anthropic.com/v1/messages"}[kind]
    lines = str(error).splitlines()
    assert lines[0] == f"no recording in {path} for POST {endpoint}"
    assert lines[1] == ("JSON request bodies differ from the nearest recorded request (interaction 1 of 2, "
                        "not played yet):")
    key = '"text"' if kind == "anthropic" else '"content"'
    changed = [" ".join(line.split()) for line in lines if line[:1] in "-+" and line[:3] not in ("---", "+++")]
    assert changed == [f'- {key}: "Weather in Oslo?",', f'+ {key}: "Weather in Rome?",']
    assert isinstance(error, vcr.errors.CannotOverwriteExistingCassetteException)  # vcrpy's handlers still work
    assert not isinstance(error, (openai.APIConnectionError, anthropic.APIConnectionError))  # the SDK passed it on


def test_the_nearest_is_the_most_similar_body_of_the_same_path(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    with use_cassette(path, record=True):
        client = _client("openai", _provider("openai"))
        for question in ("What is the weather in Oslo today?", "Tell me a joke about penguins."):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    with pytest.raises(CassetteError) as info, use_cassette(path):
        _client("openai").chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": "Tell me a joke about pelicans."}])
    assert "(interaction 2 of 2, not played yet)" in str(info.value)
    assert '-   "content": "Tell me a joke about penguins.",' in str(info.value)


def test_a_request_made_more_often_than_recorded_says_so(tmp_path: Path) -> None:
    path = tmp_path / "once.yaml"
    question = [{"role": "user", "content": "Hi"}]
    with use_cassette(path, record=True):
        _client("openai", _provider("openai")).chat.completions.create(model="gpt-4o-mini", messages=question)
    with pytest.raises(CassetteError, match=r"the same request is recorded \(interaction 1 of 1, already played\): "
                                            "the code made it more often"), use_cassette(path):
        for _ in range(2):
            _client("openai").chat.completions.create(model="gpt-4o-mini", messages=question)


def test_a_request_to_a_path_never_recorded_lists_what_is(tmp_path: Path) -> None:
    path = tmp_path / "chat.yaml"
    with use_cassette(path, record=True):
        _client("openai", _provider("openai")).chat.completions.create(model="gpt-4o-mini", messages=[])
    with pytest.raises(CassetteError, match=r"nothing is recorded for POST /v1/responses; the cassette holds: "
                                            r"POST /v1/chat/completions"), use_cassette(path):
        _client("openai").responses.create(model="gpt-5-mini", input="Hi")


def test_replays_fail_on_unplayed_interactions_and_on_a_missing_file(recorded: tuple[str, Path]) -> None:
    _, path = recorded
    with pytest.raises(CassetteError, match="2 recorded interaction"), use_cassette(path):
        pass
    with pytest.raises(CassetteError, match="does not exist; record it first"), use_cassette(path.with_name("x.yaml")):
        pass


def test_keys_in_the_url_never_reach_the_file_and_requests_match_on_the_filtered_url(tmp_path: Path) -> None:
    path = tmp_path / "azure.yaml"

    def client(api_version: str = "2024-10-21", transport: httpx2.BaseTransport | None = None) -> openai.OpenAI:
        http = httpx2.Client(transport=transport) if transport is not None else None
        return openai.OpenAI(api_key="sk-x", base_url="https://user:URLPASSWORD@my-res.openai.azure.com/openai/v1",
                             default_query={"api-key": "QUERYSECRET", "api-version": api_version},
                             http_client=http, max_retries=0)

    def ask(c: openai.OpenAI) -> Any:
        return c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])

    with use_cassette(path, record=True):
        ask(client(transport=_provider("openai")))
    text = path.read_text()
    assert "URLPASSWORD" not in text and "QUERYSECRET" not in text and "user:" not in text
    [item] = yaml.safe_load(text)["interactions"]
    assert item["request"]["uri"] == "https://my-res.openai.azure.com/openai/v1/chat/completions?api-version=2024-10-21"
    assert "api-version" in QUERY_PARAMETERS and "api-key" not in QUERY_PARAMETERS

    with use_cassette(path):  # the same client, secrets in its URL: it matches the filtered recording
        assert ask(client()).choices[0].finish_reason == "tool_calls"
    with pytest.raises(CassetteError) as info, use_cassette(path):  # a kept parameter still counts
        ask(client(api_version="2025-01-01"))
    assert "QUERYSECRET" not in str(info.value) and "URLPASSWORD" not in str(info.value)
    assert "?api-version=2025-01-01" in str(info.value).splitlines()[0]


def _two_requests(client: Any, fail_between: bool) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "1"}])
    if fail_between:
        raise RuntimeError("the code failed half way")
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "2"}])


def test_a_failed_re_record_keeps_the_cassette_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    with use_cassette(path, record=True):
        _two_requests(_client("openai", _provider("openai")), fail_between=False)
    good = path.read_text()
    with pytest.raises(RuntimeError, match="half way"), use_cassette(path, record=True):
        _two_requests(_client("openai", _provider("openai")), fail_between=True)
    assert path.read_text() == good
    assert [p.name for p in tmp_path.iterdir()] == ["good.yaml"]  # no partial recording left beside it
    with use_cassette(path):
        _two_requests(_client("openai"), fail_between=False)


def _flaky(failures: int, status: int = 429) -> httpx2.MockTransport:
    """Answers `failures` times with `status` (asking to wait 1 ms), then like the provider."""
    provider, seen = _answerer("openai"), [0]

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen[0] += 1
        if seen[0] <= failures:
            return httpx2.Response(status, headers={"retry-after-ms": "1", "retry-after": "30"},
                                   json={"error": {"message": "slow down", "type": "rate_limit_error"}})
        return provider(request)

    return httpx2.MockTransport(answer)


def test_failures_the_client_retried_are_left_out_so_a_replay_does_not_wait(tmp_path: Path) -> None:
    path = tmp_path / "retried.yaml"
    with use_cassette(path, record=True):
        client = openai.OpenAI(api_key="sk-x", http_client=httpx2.Client(transport=_flaky(2)), max_retries=2)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert [i["response"]["status"]["code"] for i in yaml.safe_load(path.read_text())["interactions"]] == [200]
    started = time.perf_counter()
    with use_cassette(path):
        openai.OpenAI(api_key="sk-x", max_retries=2).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
    assert time.perf_counter() - started < 5  # the recorded 429 asked for 30 s


def test_a_failure_that_was_the_last_word_is_kept_with_its_retries(tmp_path: Path) -> None:
    path = tmp_path / "failed.yaml"
    with pytest.raises(openai.InternalServerError), use_cassette(path, record=True):
        openai.OpenAI(api_key="sk-x", http_client=httpx2.Client(transport=_flaky(9, status=503)),
                      max_retries=1).chat.completions.create(model="m", messages=[])
    assert not path.exists()  # the block failed: nothing replaced
    with use_cassette(path, record=True):
        client = openai.OpenAI(api_key="sk-x", http_client=httpx2.Client(transport=_flaky(9, status=503)),
                               max_retries=1)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=[])
    codes = [i["response"]["status"]["code"] for i in yaml.safe_load(path.read_text())["interactions"]]
    assert codes == [503, 503]
