"""One package per wire API behind `WireAPI`, and one registry that is the only place choosing between them.

The registry serves every provider, each by the API it speaks, and raises `UnknownProviderError` for
one it lacks instead of falling through to Chat Completions; no module outside the wire API packages
compares a provider with a wire API's name; every package holds the files the README lists;
`loopline.testing` reaches providers only through their public names.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import loopline
from loopline.errors import UnknownProviderError, UsageError
from loopline.providers import (
    REGISTRY,
    AdapterBase,
    AnthropicAdapter,
    AnthropicModel,
    LLMProvider,
    OpenAIChatAdapter,
    OpenAIChatModel,
    OpenAIResponsesAdapter,
    OpenAIResponsesModel,
    Registry,
    TextDelta,
    WireAPI,
    describe_format,
    detect_provider,
    get_adapter,
    make_response,
    resolve_model,
    synthesize_stream,
    translator,
    wire_api,
)

SRC = Path(loopline.__file__).resolve().parent
PROVIDERS = SRC / "providers"
README = Path(__file__).resolve().parents[2] / "README.md"
PACKAGES = {"openai": "_chat", "openai_responses": "_responses", "anthropic": "_anthropic"}


def test_the_registry_serves_every_provider_by_the_api_it_speaks() -> None:
    assert [api.provider for api in REGISTRY] == [LLMProvider.OPEN_AI, LLMProvider.OPEN_AI_RESPONSES,
                                                   LLMProvider.ANTHROPIC]
    served = {provider: wire_api(provider).provider for provider in LLMProvider}
    chat = {p for p in LLMProvider if p not in (LLMProvider.OPEN_AI_RESPONSES, LLMProvider.ANTHROPIC)}
    assert {p for p, api in served.items() if api is LLMProvider.OPEN_AI} == chat
    assert served[LLMProvider.ANTHROPIC] is LLMProvider.ANTHROPIC
    assert served[LLMProvider.OPEN_AI_RESPONSES] is LLMProvider.OPEN_AI_RESPONSES
    assert type(get_adapter("ollama")) is OpenAIChatAdapter and get_adapter("ollama").provider is LLMProvider.OLLAMA
    assert type(get_adapter("openai_responses")) is OpenAIResponsesAdapter
    assert type(get_adapter(LLMProvider.ANTHROPIC)) is AnthropicAdapter
    assert get_adapter("vllm") is get_adapter(LLMProvider.VLLM)  # one adapter per provider, kept


def test_each_api_brings_its_own_model_class() -> None:
    assert type(resolve_model("gpt-4o")) is OpenAIChatModel
    assert type(resolve_model("ollama:qwen2.5")) is OpenAIChatModel
    assert type(resolve_model("openai_responses:gpt-5-mini")) is OpenAIResponsesModel
    assert type(resolve_model("anthropic:claude-sonnet-4-5")) is AnthropicModel
    assert [api.model_class for api in REGISTRY] == [OpenAIChatModel, OpenAIResponsesModel, AnthropicModel]


def test_a_registry_without_the_api_raises_instead_of_falling_through() -> None:
    only_anthropic = Registry(wire_api("anthropic"))
    with pytest.raises(UnknownProviderError, match="unknown llm_provider 'openai'; known providers: anthropic"):
        only_anthropic["openai"]
    with pytest.raises(UnknownProviderError, match="'ollama'"):
        only_anthropic[LLMProvider.OLLAMA]
    assert only_anthropic["anthropic"] is wire_api("anthropic")
    assert only_anthropic.of_format(describe_format(make_response("openai", ["hi"]))) is None
    with pytest.raises(UnknownProviderError, match="'openai'; known providers: anthropic"):
        wire_api("anthropic").adapter(LLMProvider.OPEN_AI)  # an API serves only its own providers


def test_an_unknown_provider_name_raises_at_every_entry_point() -> None:
    for call in (lambda: wire_api("gemini"), lambda: get_adapter("gemini"), lambda: translator("gemini"),
                 lambda: make_response("gemini", ["hi"]), lambda: synthesize_stream({}, "gemini"),
                 lambda: resolve_model("gemini:flash")):
        with pytest.raises(UnknownProviderError, match="unknown llm_provider 'gemini'"):
            call()


def test_two_apis_cannot_claim_one_provider() -> None:
    chat = wire_api("openai")
    with pytest.raises(UsageError, match="openai is spoken by both <WireAPI openai> and <WireAPI openai>"):
        Registry(chat, chat)


def test_the_interface_is_abstract() -> None:
    class Half(WireAPI):
        provider = LLMProvider.OPEN_AI

    with pytest.raises(TypeError, match="abstract"):
        Half()  # type: ignore[abstract]

    class HalfAdapter(AdapterBase):
        provider = LLMProvider.OPEN_AI

    with pytest.raises(TypeError, match="abstract"):
        HalfAdapter()  # type: ignore[abstract]


@pytest.mark.parametrize("provider", list(PACKAGES))
def test_each_api_answers_for_itself(provider: str) -> None:
    api = wire_api(provider)
    response = make_response(provider, ["hello ", ("lookup", {"q": "x"})])
    assert describe_format(response) == api.response_format
    assert REGISTRY.of_format(api.response_format) is api and REGISTRY.of_format(api.event_format) is api
    events = synthesize_stream(response, provider)
    assert {describe_format(e) for e in events} == {api.event_format}
    assert detect_provider(response) is detect_provider(events) is api.provider
    feed = translator(provider)
    deltas = [d for e in events for d in feed(e)]
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "hello "
    assert get_adapter(provider).parse(events)[0].parts == get_adapter(provider).parse(response)[0].parts


def _branches_on_a_provider(path: Path) -> list[str]:
    """Comparisons (`is`, `==`, `in`) whose other side names an `LLMProvider` member."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            names = [n for side in node.comparators for n in ast.walk(side)
                     if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "LLMProvider"]
            found += [f"{path.relative_to(SRC)}:{node.lineno} LLMProvider.{n.attr}" for n in names]
    return found


def test_no_module_chooses_between_apis_by_name() -> None:
    """The registry and the objects it returns decide; no `if provider is LLMProvider.ANTHROPIC` anywhere."""
    assert [hit for path in sorted(SRC.rglob("*.py")) for hit in _branches_on_a_provider(path)] == []


def _package_files(package: str) -> set[str]:
    return {p.name for p in (PROVIDERS / package).glob("*.py")}


def test_every_api_package_holds_the_files_the_readme_lists() -> None:
    text = README.read_text()
    section = text[text.index("### Adding a wire API"):]
    listed = set(re.findall(r"^src/loopline/providers/_gemini/(\w+\.py)", section, re.MULTILINE))
    assert listed == {"__init__.py", "adapter.py", "stream.py", "events.py", "made.py", "detect.py", "model.py"}
    packages = sorted(p.name for p in PROVIDERS.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert packages == sorted(PACKAGES.values())
    assert {package: _package_files(package) for package in packages} == dict.fromkeys(packages, listed)
    for api in REGISTRY:  # each registered API is the class its own package defines
        assert type(api).__module__ == f"loopline.providers.{PACKAGES[api.provider.value]}"
