"""`use_cassette`: secret-free recordings, offline replays of model objects, and a clear error for a
request that has no recording (a diff against the nearest recorded request).

Recording goes through vcrpy's record mode over an `httpx2.MockTransport` standing in for the
provider (vcrpy records mock transports as it records real ones); replays use the SDKs' default
network transports, which vcrpy answers before anything is sent.
"""

from __future__ import annotations

import json
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

    return httpx2.MockTransport(answer)


def _client(kind: str, transport: httpx2.BaseTransport | None = None) -> Any:
    http = httpx2.Client(transport=transport) if transport is not None else None
    if kind == "anthropic":
        return anthropic.Anthropic(api_key=SECRETS["x-api-key"], http_client=http, max_retries=0,
                                   default_headers={"authorization": SECRETS["authorization"]})
    return openai.OpenAI(api_key=SECRETS["api key"], organization=SECRETS["organization"],
                         project=SECRETS["project"], http_client=http, max_retries=0,
                         default_headers={"x-api-key": SECRETS["x-api-key"]})


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
