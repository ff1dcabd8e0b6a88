"""Context fitting through the Agent: every request of a long run fits the window, pairs stay together,
the task stays, the stored thread keeps everything, and rendering stays incremental between fits."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from tests.provider_rules import anthropic_violations, chat_violations, responses_violations

from loopline import Agent, ExecutionStatus, InMemoryStore, LLMProvider, RunConfig, tool
from loopline.agent import _requests
from loopline.context import CUT_MARKER, ContextPolicy, TokenCounter
from loopline.errors import ContextOverflowError
from loopline.providers import get_adapter
from loopline.testing import Reply, ScriptedModel, call, reply

RULES = {LLMProvider.OPEN_AI: chat_violations, LLMProvider.ANTHROPIC: anthropic_violations,
         LLMProvider.OPEN_AI_RESPONSES: responses_violations}
TASK = "Read every page of the report and summarise it."


@tool
def read_page(page: int) -> str:
    """Read one page of the report."""
    return f"Page {page}: " + "The quarterly figures rose and fell in turn. " * 60


def Reader(provider: LLMProvider, pages: int, name: str = "gpt-4o-mini") -> ScriptedModel:
    """Reads pages 1..N one call at a time, then finishes; its `requests` are what each request carried."""
    turns = itertools.count(1)

    def answer(request: dict[str, Any]) -> Reply:
        turn = next(turns)
        return reply(call("read_page", page=turn) if turn <= pages else call("finish", result="summary",
                                                                               is_success=True))

    return ScriptedModel(answer, provider=provider, name=name)


def _response(provider: LLMProvider, model: str, turn: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
    if provider is LLMProvider.ANTHROPIC:
        return {"id": f"msg_{turn}", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "tool_use", "id": f"toolu_{turn}", "name": name, "input": args}],
                "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 5}}
    if provider is LLMProvider.OPEN_AI_RESPONSES:
        return {"id": f"resp_{turn}", "object": "response", "status": "completed", "model": model,
                "output": [{"type": "function_call", "id": f"fc_{turn}", "call_id": f"call_{turn}", "name": name,
                            "arguments": json.dumps(args), "status": "completed"}],
                "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}}
    return {"id": f"chatcmpl-{turn}", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None, "tool_calls": [
                    {"id": f"call_{turn}", "type": "function",
                     "function": {"name": name, "arguments": json.dumps(args)}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}


def _task_text(provider: LLMProvider, request: dict[str, Any]) -> str:
    key = get_adapter(provider).messages_key
    first = next(m for m in request[key] if m.get("role") == "user")
    content = first["content"]
    return content if isinstance(content, str) else json.dumps(content)


@pytest.mark.parametrize("provider", list(RULES))
def test_every_request_of_a_long_run_fits_and_stays_valid(provider: LLMProvider) -> None:
    window = 6000
    policy = ContextPolicy(context_window=window, reply_reserve=1000)
    store = InMemoryStore()
    agent = Agent("reader", instructions="Be thorough.", tools=[read_page], store=store, llm_provider=provider,
                  config=RunConfig(context=policy, max_steps=60))
    model = Reader(provider, pages=40)
    result = agent.run(TASK, model=model)
    assert result.status is ExecutionStatus.COMPLETED and len(model.requests) == 41
    counter = TokenCounter("gpt-4o-mini")
    sizes = [counter.count_text(json.dumps(r)) for r in model.requests]
    assert max(sizes) < window  # the whole request as JSON text: more than the model reads, still under
    assert sizes[-1] < sizes[len(sizes) // 2] * 2  # bounded, not growing with the thread
    for request in model.requests:
        assert RULES[provider](request) == []  # pairing, alternation, results after calls
        assert TASK in _task_text(provider, request)  # the task is always carried
    # The stored thread is untouched: every page read is there in full, in order.
    stored = store.get_messages(result.thread_id)
    assert len(stored) == 1 + 2 * 41 and not any(CUT_MARKER.split("{")[0] in m.text for m in stored)


def test_the_stored_thread_and_the_agent_keep_everything_while_requests_carry_a_window() -> None:
    agent = Agent("reader", tools=[read_page], store=InMemoryStore(),
                  config=RunConfig(context=ContextPolicy(context_window=5000, reply_reserve=500)))
    model = Reader(LLMProvider.OPEN_AI, pages=30)
    agent.run(TASK, model=model)
    last = model.requests[-1]["messages"]
    assert len(last) < len(agent.thread) // 2
    pages_sent = [m["content"] for m in last if m["role"] == "tool"]
    assert pages_sent[-1].startswith("Page 30:")  # the newest turns are the ones kept
    assert [m.role for m in agent.thread].count("tool") == 31


def test_the_manual_loop_fits_when_it_names_its_model_and_not_otherwise() -> None:
    agent = Agent("reader", tools=[read_page], store=InMemoryStore(),
                  config=RunConfig(context=ContextPolicy(context_window=3000, reply_reserve=500)))
    agent.add_task(TASK)
    for turn in range(1, 16):
        agent.add_messages(_response(LLMProvider.OPEN_AI, "gpt-4o", turn, "read_page", {"page": turn}))
        agent.run_tools(agent.pending_tool_calls)
    whole = agent.request_kwargs()
    fitted = agent.request_kwargs(model="gpt-4o")
    assert len(whole["messages"]) == 1 + 2 * 15
    assert len(fitted["messages"]) < len(whole["messages"]) and chat_violations(fitted) == []
    assert fitted["messages"][0]["content"] == TASK  # the task opens the window


def test_a_turn_that_can_never_fit_fails_the_run_with_context_overflow() -> None:
    @tool
    def dump() -> str:
        """Dump everything."""
        return "x"

    agent = Agent("a", instructions="word " * 3000, tools=[dump], store=InMemoryStore(),
                  config=RunConfig(context=ContextPolicy(context_window=2000, reply_reserve=500)))
    result = agent.run("go", model=Reader(LLMProvider.OPEN_AI, pages=1))
    assert (result.status, result.error_code) == (ExecutionStatus.FAILED, "context_overflow")
    assert "2,000" in (result.error or "")
    agent2 = Agent("b", instructions="word " * 3000, store=InMemoryStore(),
                   config=RunConfig(context=ContextPolicy(context_window=2000, reply_reserve=500)))
    agent2.add_task("go")
    with pytest.raises(ContextOverflowError):
        agent2.request_kwargs(model="gpt-4o")


def test_a_model_without_a_known_window_is_not_counted_at_all() -> None:
    agent = Agent("a", tools=[read_page], store=InMemoryStore())
    model = Reader(LLMProvider.OPEN_AI, pages=3, name="my-local-model-7b")
    assert agent.run(TASK, model=model).status is ExecutionStatus.COMPLETED
    assert "my-local-model-7b" not in _requests._COUNTERS
    off = Agent("b", tools=[read_page], store=InMemoryStore(),
                config=RunConfig(context=ContextPolicy(enabled=False)))
    off.run(TASK, model=Reader(LLMProvider.OPEN_AI, pages=3, name="gpt-4.1-nano"))
    assert "gpt-4.1-nano" not in _requests._COUNTERS


def test_rendering_restarts_only_when_the_window_is_refitted(monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = get_adapter(LLMProvider.OPEN_AI)
    rendered: list[str] = []
    original = type(adapter).render_message

    def counting(self: Any, message: Any, notes: Any = None) -> Any:
        rendered.append(message.id)
        return original(self, message, notes)

    monkeypatch.setattr(type(adapter), "render_message", counting)
    agent = Agent("reader", tools=[read_page], store=InMemoryStore(),
                  config=RunConfig(context=ContextPolicy(context_window=8000, reply_reserve=500), max_steps=80))
    agent.run(TASK, model=Reader(LLMProvider.OPEN_AI, pages=70))
    thread = len(agent.thread)
    # Without incremental rendering this would be about thread**2 / 2 (~10,000) renderings.
    assert thread <= len(rendered) < thread * 4, (thread, len(rendered))


def test_a_conversation_far_from_the_window_is_never_tokenised() -> None:
    # Its size in bytes bounds its tokens, so the encoder (tens of megabytes) is not even loaded.
    agent = Agent("a", tools=[read_page], store=InMemoryStore())
    model = Reader(LLMProvider.OPEN_AI, pages=5, name="gpt-4o-2024-08-06")
    assert agent.run(TASK, model=model).status is ExecutionStatus.COMPLETED
    assert "gpt-4o-2024-08-06" not in _requests._COUNTERS
    # Near the window it is: the same run against a small window counts and fits.
    small = Agent("b", tools=[read_page], store=InMemoryStore(),
                  config=RunConfig(context=ContextPolicy(context_window=4000, reply_reserve=500)))
    small.run(TASK, model=Reader(LLMProvider.OPEN_AI, pages=5, name="gpt-4o-2024-08-06"))
    assert "gpt-4o-2024-08-06" in _requests._COUNTERS


def test_the_window_keeps_room_for_the_replys_max_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    # Providers refuse a request whose input plus max_tokens exceeds the window.
    from loopline.context import ContextFitter

    estimates: list[int] = []
    fit = ContextFitter.fit

    def spy(self: ContextFitter, *args: Any, **kwargs: Any) -> Any:
        fitted = fit(self, *args, **kwargs)
        estimates.append(fitted.tokens)
        return fitted

    monkeypatch.setattr(ContextFitter, "fit", spy)
    window, max_tokens = 20_000, 12_000
    model = Reader(LLMProvider.OPEN_AI, pages=40)
    model.params = {"max_tokens": max_tokens}  # type: ignore[attr-defined]  # as an SDK model carries them
    agent = Agent("reader", tools=[read_page], store=InMemoryStore(),
                  config=RunConfig(context=ContextPolicy(context_window=window), max_steps=60))
    assert agent.run(TASK, model=model).status is ExecutionStatus.COMPLETED
    assert estimates and max(estimates) + max_tokens <= window  # the fitter's own count of each request
    agent.add_task("again")
    with pytest.raises(ContextOverflowError, match="no room"):
        agent.request_kwargs(model="gpt-4o-mini", max_tokens=window)


def test_images_count_toward_the_window_even_when_their_bytes_are_few() -> None:
    from loopline.messages import FilePart, Message, TextPart

    agent = Agent("viewer", store=InMemoryStore(),
                  config=RunConfig(context=ContextPolicy(context_window=32_000, reply_reserve=2_000)))
    agent.add_task("Describe the photos.")
    for i in range(40):
        photo = FilePart(media_type="image/png", url=f"https://example.test/{i}.png")
        agent._state._thread.append(Message(  # type: ignore[union-attr]
            role="user", parts=(TextPart(text=f"photo {i}"), photo)))
    request = agent.request_kwargs(model="gpt-4o")
    images = sum(1 for m in request["messages"] for b in m["content"] if isinstance(b, dict)
                 and b.get("type") == "image_url") if request else 0
    assert 0 < images <= 30_000 // 1_600


def test_a_new_context_policy_renders_afresh() -> None:
    agent = Agent("a", store=InMemoryStore(), config=RunConfig(
        context=ContextPolicy(context_window=12_000, reply_reserve=1000, max_tool_output_tokens=2000)))
    agent.add_task("Summarise the report.")
    for i, text in enumerate(["The quarterly figures rose and fell in turn. " * 1500, "page 2 is short"]):
        agent.add_messages([{"role": "assistant", "content": None, "tool_calls": [
            {"id": f"c{i}", "type": "function", "function": {"name": "read", "arguments": "{}"}}]}])
        agent.add_messages([{"role": "tool", "tool_call_id": f"c{i}", "content": text}])
    marker = CUT_MARKER.split("{")[0].strip()
    assert marker in agent.request_kwargs(model="gpt-4o")["messages"][2]["content"]
    agent.config = agent.config.replace(context=ContextPolicy(context_window=128_000))  # room now
    assert marker not in agent.request_kwargs(model="gpt-4o")["messages"][2]["content"]
