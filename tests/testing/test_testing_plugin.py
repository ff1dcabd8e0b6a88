"""loopline's pytest plugin, run as a user's test suite would run it: inner pytest sessions (pytester).

The inner tests drive the real `openai` SDK client. Its HTTP goes to an `httpx2.MockTransport` that
answers like Chat Completions (vcrpy records through mock transports as through real ones) and that
fails the test if it is reached when it must not be (replays are offline).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from loopline.testing import REQUEST_HEADERS, RESPONSE_HEADERS

pytest_plugins = ["pytester"]

SECRETS = ("sk-live-s3cr3t-key-0123456789", "org-S3cr3tOrganisation", "proj_S3cr3tProject", "x-api-key-s3cr3t",
           "Bearer")

INNER = '''
import json, os
import httpx2, openai, pytest
from loopline import Agent, InMemoryStore, tool

@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"

def answer(request):
    if os.environ.get("INNER_OFFLINE"):
        raise AssertionError("the provider was reached during a replay")
    body = json.loads(request.content)
    turn = sum(1 for m in body["messages"] if m["role"] == "assistant") + 1
    name, args = ("get_weather", {"city": "Oslo"}) if turn == 1 else ("finish", {"result": "sunny", "is_success": True})
    return httpx2.Response(200, headers={"openai-organization": "org-S3cr3tOrganisation", "set-cookie": "s=1",
                                         "x-request-id": f"req_{turn}"}, json={
        "id": f"chatcmpl-{turn}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
                     "tool_calls": [{"id": f"call_{turn}", "type": "function",
                                     "function": {"name": name, "arguments": json.dumps(args)}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

def client():
    return openai.OpenAI(api_key=os.environ.get("OPENAI_API_KEY", "sk-test"), organization="org-S3cr3tOrganisation",
                         project="proj_S3cr3tProject", default_headers={"x-api-key": "x-api-key-s3cr3t"},
                         base_url="https://api.openai.com/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(answer)))

QUESTION = "Weather in Oslo?"

@pytest.mark.loopline_cassette
def test_weather():
    agent = Agent("a", tools=[get_weather], store=InMemoryStore())
    result = agent.run(QUESTION, model="gpt-4o-mini", client=client())
    assert (result.status.value, result.result) == ("COMPLETED", "sunny")
'''


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def _quiet(pytester: pytest.Pytester) -> None:
    """The inner sessions load pytest-asyncio too; give it the setting it warns about when unset."""
    pytester.makeini(INI)


def _cassette(pytester: pytest.Pytester) -> Path:
    return pytester.path / "cassettes" / "test_inner" / "test_weather.yaml"


def _record(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makepyfile(test_inner=INNER)
    monkeypatch.setenv("OPENAI_API_KEY", SECRETS[0])
    result = pytester.runpytest("--record")
    result.assert_outcomes(passed=1)
    monkeypatch.delenv("OPENAI_API_KEY")
    return _cassette(pytester)


def test_record_then_replay_offline_and_the_cassette_holds_no_secret(pytester: pytest.Pytester,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = _record(pytester, monkeypatch)
    text = path.read_text()
    assert [s for s in SECRETS if s in text] == []
    data = yaml.safe_load(text)
    assert data["metadata"]["loopline"] == {"note": "recorded by test_inner.py::test_weather with pytest --record"}
    for item in data["interactions"]:
        assert {k.lower() for k in item["request"]["headers"]} <= REQUEST_HEADERS
        assert {k.lower() for k in item["response"]["headers"]} <= RESPONSE_HEADERS
    assert [i["request"]["body"]["json"]["messages"][-1]["role"] for i in data["interactions"]] == ["user", "tool"]

    monkeypatch.setenv("INNER_OFFLINE", "1")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_request_with_no_recording_shows_the_diff_against_the_nearest(pytester: pytest.Pytester,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _record(pytester, monkeypatch)
    monkeypatch.setenv("INNER_OFFLINE", "1")
    pytester.makepyfile(test_inner=INNER.replace('QUESTION = "Weather in Oslo?"', 'QUESTION = "Weather in Rome?"'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "CassetteError: no recording in" in out
    assert "for POST https://api.openai.com/v1/chat/completions" in out
    assert "JSON request bodies differ from the nearest recorded request (interaction 1 of 2, not played yet)" in out
    assert re.search(r'-\s+"content": "Weather in Oslo\?"', out) and re.search(r'\+\s+"content": "Weather in Rome\?"',
                                                                              out)
    assert "the provider was reached" not in out


def test_interactions_never_played_fail_the_test(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _record(pytester, monkeypatch)
    monkeypatch.setenv("INNER_OFFLINE", "1")
    stops_early = INNER.replace("    result = agent.run(QUESTION, model=\"gpt-4o-mini\", client=client())\n"
                                "    assert (result.status.value, result.result) == (\"COMPLETED\", \"sunny\")",
                                "    agent.add_task(QUESTION)\n"
                                "    agent.add_messages(client().chat.completions.create(model='gpt-4o-mini', "
                                "**agent.request_kwargs()))")
    assert stops_early != INNER
    pytester.makepyfile(test_inner=stops_early)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)  # the test itself fails, not its teardown
    result.stdout.fnmatch_lines(["*1 recorded interaction(s) were never played*"])


def test_a_missing_cassette_fails_and_says_how_to_record_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cassettes/test_inner/test_weather.yaml does not exist; record it first*--record*"])


def test_record_without_a_provider_key_fails_clearly(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("--record")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*--record records real provider traffic into *test_weather.yaml, but neither "
                                 "OPENAI_API_KEY nor ANTHROPIC_API_KEY is set*"])
    assert not _cassette(pytester).exists()


def test_the_marker_takes_a_path_relative_to_the_test_file(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_inner=INNER.replace("@pytest.mark.loopline_cassette\n",
                                                 '@pytest.mark.loopline_cassette("recorded/weather.yaml")\n'))
    monkeypatch.setenv("OPENAI_API_KEY", SECRETS[0])
    pytester.runpytest("--record").assert_outcomes(passed=1)
    assert (pytester.path / "recorded" / "weather.yaml").exists() and not _cassette(pytester).exists()


def test_the_fixture_gives_the_cassette_to_the_test(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _record(pytester, monkeypatch)
    pytester.makepyfile(test_inner=INNER.replace("@pytest.mark.loopline_cassette\ndef test_weather():",
                                                 "def test_weather(loopline_cassette):")
                        + "    assert loopline_cassette.play_count == 2\n")
    monkeypatch.setenv("INNER_OFFLINE", "1")
    pytester.runpytest().assert_outcomes(passed=1)


BLOCKED = '''
import openai, pytest
from loopline import Agent, InMemoryStore
from loopline.errors import ModelRequestBlockedError
from loopline.testing import model_requests_blocked

def test_manual_loop_is_blocked():
    with pytest.raises(ModelRequestBlockedError) as info:
        openai.OpenAI(api_key="sk-test", max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=[])
    print("MESSAGE:", info.value)

def test_run_is_blocked():
    agent = Agent("a", store=InMemoryStore())
    agent.run("Hi", model="gpt-4o-mini", client=openai.OpenAI(api_key="sk-test", max_retries=0))

def test_default():
    print("BLOCKED:", model_requests_blocked())

@pytest.mark.allow_model_requests
def test_marked():
    print("BLOCKED:", model_requests_blocked())

def test_fixture(allow_model_requests):
    print("BLOCKED:", model_requests_blocked())
'''


def test_real_requests_are_blocked_and_the_error_names_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_blocked=BLOCKED)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([
        "*MESSAGE: loopline blocked a real model request to https://api.openai.com/v1/chat/completions in test "
        "test_blocked.py::test_manual_loop_is_blocked: *",
        "*ModelRequestBlockedError: loopline blocked a real model request to https://api.openai.com/v1* in test "
        "test_blocked.py::test_run_is_blocked*",
    ])
    out = result.stdout.str()
    assert "@pytest.mark.allow_model_requests" in out and "ScriptedModel" in out and "loopline_cassette" in out
    assert re.findall(r"BLOCKED: (\w+)", out) == ["True", "False", "False"]


@pytest.mark.parametrize("how", ["flag", "ini"])
def test_blocking_can_be_turned_off_for_the_run(pytester: pytest.Pytester, how: str) -> None:
    pytester.makepyfile(test_blocked=BLOCKED)
    if how == "ini":
        pytester.makeini(INI + "loopline_block_model_requests = false\n")
    result = pytester.runpytest("-s", "-k", "default", *(["--allow-model-requests"] if how == "flag" else []))
    result.assert_outcomes(passed=1)
    assert re.findall(r"BLOCKED: (\w+)", result.stdout.str()) == ["False"]


def test_without_vcrpy_only_cassette_tests_fail_and_they_name_the_extra(pytester: pytest.Pytester,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = pytester.mkdir("no_vcr")
    (hidden / "vcr").mkdir()
    (hidden / "vcr" / "__init__.py").write_text("raise ImportError('vcrpy is not installed here')\n")
    pytester.makepyfile(test_inner=INNER + "\ndef test_plain():\n    assert True\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hidden), *filter(None, sys.path)]))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    assert "'vcrpy' is not installed; install it with: pip install 'loopline[testing]'" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_a_re_record_replaces_the_cassette_only_when_the_test_passes(pytester: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = _record(pytester, monkeypatch)
    good = path.read_text()
    monkeypatch.setenv("OPENAI_API_KEY", SECRETS[0])
    fails = INNER.replace('QUESTION = "Weather in Oslo?"', 'QUESTION = "Weather in Rome?"').replace(
        '    assert (result.status.value, result.result) == ("COMPLETED", "sunny")',
        '    assert result.result == "rainy", "the test fails after the requests were recorded"')
    pytester.makepyfile(test_inner=fails)
    result = pytester.runpytest("--record", "-rA")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_weather.yaml was not re-recorded: the test did not pass*"])
    assert path.read_text() == good
    assert sorted(p.name for p in path.parent.iterdir()) == ["test_weather.yaml"]  # nothing half-written left

    pytester.makepyfile(test_inner=INNER.replace('QUESTION = "Weather in Oslo?"', 'QUESTION = "Weather in Rome?"'))
    pytester.runpytest("--record").assert_outcomes(passed=1)
    assert "Weather in Rome?" in path.read_text() and "Weather in Oslo?" not in path.read_text()
