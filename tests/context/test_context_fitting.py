"""Context fitting: long real-shaped threads fitted under the window, pairs of calls and results kept
together (checked by rendering through all three adapters and the providers' rules), the task kept,
the stored messages untouched, incremental cost, hysteresis, and the overflow error.

The long threads are built from the recorded traffic (tests/wire): each exchange's request
conversation and response, parsed by the adapters, answered where the response made calls, and
repeated (with fresh message and call ids) to thousands of messages. Exchanges whose own rendering
breaks a provider's rules (a few recordings hold calls answered with ids of another exchange) are
left out: fitting must keep valid threads valid, it cannot repair broken ones.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_context import spy_on

import provider_rules
import wire
from loopline.context import CUT_MARKER, ContextFitter, ContextPolicy, Fitted, TokenCounter, WindowView
from loopline.context._plan import units_of
from loopline.errors import ContextOverflowError
from loopline.messages import Message, ToolCallPart, ToolResultPart, message_to_json, new_id
from loopline.providers import get_adapter

RULES: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "openai": provider_rules.chat_violations,
    "anthropic": provider_rules.anthropic_violations,
    "openai_responses": provider_rules.responses_violations,
}
APIS = [("openai/chat.completions", "openai"), ("openai/responses", "openai_responses"),
        ("anthropic/messages", "anthropic")]


def violations(messages: Sequence[Message]) -> dict[str, list[str]]:
    """The rules each provider's rendering of `messages` breaks (empty lists when all accept it)."""
    found = {}
    for provider, rule in RULES.items():
        adapter = get_adapter(provider)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # other providers' reasoning is dropped, and said so
            kwargs = adapter.request_kwargs(system="You help.", messages=adapter.renderer().render(messages), tools=[])
        found[provider] = rule(kwargs)
    return found


def pairing_problems(messages: Sequence[Message]) -> list[str]:
    """Calls without a later result, results without an earlier call, a window opening with results."""
    problems, called, answered = [], set(), set()
    for index, message in enumerate(messages):
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                called.add(part.id)
            elif isinstance(part, ToolResultPart):
                if part.tool_call_id not in called:
                    problems.append(f"[{index}] result for {part.tool_call_id} before (or without) its call")
                answered.add(part.tool_call_id)
    problems += [f"call {c} has no result" for c in sorted(called - answered)]
    if messages and messages[0].role == "tool":
        problems.append("the window opens with tool results")
    return problems


# --- threads ----------------------------------------------------------------------------------------


def _answer(message: Message, size: int = 5) -> list[Message]:
    return [Message(role="tool", parts=(ToolResultPart(tool_call_id=c.id, name=c.name,
                                                       content=f"{c.name}: " + "12 degrees and cloudy. " * size),))
            for c in message.tool_calls]


@functools.cache
def wire_segments(api: str, provider: str) -> tuple[tuple[Message, ...], ...]:
    """Per recorded exchange: its request's conversation and its response, calls answered."""
    adapter = get_adapter(provider)
    out = []
    for w in wire.load(api):
        if w.is_error:
            continue
        items = w.request.get("messages", w.request.get("input"))
        items = [{"role": "user", "content": items}] if isinstance(items, str) else items
        messages = [m for m in adapter.parse(items) if m.role != "system"]
        messages += adapter.parse(w.response)
        messages += _answer(messages[-1])
        if messages[0].role == "user" and not any(violations(messages).values()):
            out.append(tuple(messages))
    return tuple(out)


def _fresh(message: Message, suffix: str) -> Message:
    """A copy with a new id, its call ids made unique by `suffix` (repeated ids break providers' rules)."""
    parts = tuple(dataclasses.replace(p, id=f"{p.id}_{suffix}") if isinstance(p, ToolCallPart) else
                  dataclasses.replace(p, tool_call_id=f"{p.tool_call_id}_{suffix}") if isinstance(p, ToolResultPart)
                  else p for p in message.parts)
    return dataclasses.replace(message, parts=parts, id=new_id("msg"))


def wire_thread(api: str, provider: str, size: int) -> list[Message]:
    """At least `size` messages: the recorded segments of `api` over and over, with fresh ids."""
    segments = wire_segments(api, provider)
    assert len(segments) >= 8, f"too few usable recordings of {api}"
    thread: list[Message] = []
    round_ = 0
    while len(thread) < size:
        for number, segment in enumerate(segments):  # consecutive recordings share call ids: suffix both
            thread += [_fresh(m, f"{round_}_{number}") for m in segment]
        round_ += 1
    return thread


def tool_loop(steps: int, *, output: str = "12 degrees and cloudy. ", task: str = "Check the weather.",
              ) -> list[Message]:
    """A task and `steps` steps of one call each, answered."""
    thread = [Message.user(task)]
    for i in range(steps):
        call = Message(role="assistant", parts=(ToolCallPart(id=f"call_{i}", name="get_weather",
                                                             arguments=json.dumps({"city": f"City {i}"})),))
        thread += [call, Message(role="tool", parts=(ToolResultPart(tool_call_id=f"call_{i}", name="get_weather",
                                                                    content=f"{i}: {output}"),))]
    return thread


def snapshot(messages: Sequence[Message]) -> list[str]:
    return [message_to_json(m) for m in messages]


def assert_well_fitted(fitted: Fitted, fitter: ContextFitter, fixed: int) -> None:
    """Under the limit, the count adds up, pairs intact, and every provider accepts the rendering."""
    limit = fitter.limit
    assert limit is not None and fitted.tokens <= limit
    recount = fitter.counter.count_messages(fitted.messages) + fixed + fitter.counter.request_overhead
    assert fitted.tokens == recount
    assert pairing_problems(fitted.messages) == []
    assert violations(fitted.messages) == {"openai": [], "anthropic": [], "openai_responses": []}


# --- long real-shaped threads -----------------------------------------------------------------------


@pytest.mark.parametrize(("api", "provider"), APIS)
@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4-5"])
def test_long_recorded_threads_are_fitted_under_the_window_with_pairs_intact(api: str, provider: str,
                                                                             model: str) -> None:
    thread = wire_thread(api, provider, 3000)
    before = snapshot(thread)
    pinned = next(i for i, m in enumerate(thread) if i >= 1000 and m.role == "user")  # a task mid-thread
    fitter = ContextFitter(ContextPolicy(context_window=30_000, reply_reserve=2_000), TokenCounter(model))
    fitted = fitter.fit(thread, pinned=pinned, fixed_tokens=500)
    assert fitted.refitted and fitted.dropped > 0 and len(fitted.messages) < len(thread)
    assert_well_fitted(fitted, fitter, 500)
    assert fitted.messages[0] is thread[pinned]
    assert fitted.tokens <= 0.8 * 28_000  # fitted to the target, leaving room for the next steps
    kept = {m.id for m in fitted.messages}
    assert [m.id for m in thread if m.id in kept] == [m.id for m in fitted.messages]  # order kept, nothing new
    assert fitted.dropped == len(thread) - len(fitted.messages)
    assert snapshot(thread) == before


_NOT_READ = frozenset({"role", "type", "id", "call_id", "tool_call_id", "tool_use_id", "signature", "status",
                       "media_type", "is_error", "cache_control"})
_BLOBS = frozenset({"encrypted_content", "data"})


def _read_by_the_model(value: Any, texts: list[str], blobs: list[str]) -> None:
    """The strings of a rendering a model reads (not ids, types, signatures), and its encrypted blobs."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _BLOBS and isinstance(item, str):
                blobs.append(item)
            elif key == "input" and isinstance(item, dict):  # Anthropic's tool arguments, as an object
                texts.append(json.dumps(item, separators=(",", ":")))
            elif key not in _NOT_READ:
                _read_by_the_model(item, texts, blobs)
    elif isinstance(value, list):
        for item in value:
            _read_by_the_model(item, texts, blobs)
    elif isinstance(value, str):
        texts.append(value)


@pytest.mark.parametrize(("api", "writer"), APIS)
@pytest.mark.parametrize("reader", list(RULES))
def test_the_estimate_is_close_to_what_the_rendered_request_holds(api: str, writer: str, reader: str) -> None:
    # The reference: every string of the rendered request a model reads, tokenized, 4 tokens a wire
    # message, and encrypted blobs at the counter's documented rate of a token per 8 bytes (their real
    # cost is unknowable). Rendered for the provider that wrote the thread, the estimate is within
    # -5%..+25% of it; rendered for another, parts only the writer reads are dropped, so the estimate is
    # higher, never lower. And the request's whole JSON, keys and ids included, is more than both.
    thread = wire_thread(api, writer, 600)
    counter = TokenCounter("gpt-4o")
    estimate = counter.count_messages(thread)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rendered = get_adapter(reader).renderer().render(thread)
    texts: list[str] = []
    blobs: list[str] = []
    _read_by_the_model(rendered, texts, blobs)
    reference = counter.count_text("\n".join(texts)) + 4 * len(rendered) + sum(-(-len(b) // 8) for b in blobs)
    assert 0.95 * reference <= estimate <= (1.25 * reference if reader == writer else 2.5 * reference)
    assert estimate < counter.count_text(json.dumps(rendered, ensure_ascii=False))


def test_a_synthetic_thread_of_ten_thousand_messages_is_fitted_and_then_appended_to_cheaply(
        monkeypatch: pytest.MonkeyPatch) -> None:
    thread = [*tool_loop(4999), Message.user("Go on.")]
    counter = TokenCounter("gpt-4o")
    fitter = ContextFitter(ContextPolicy(context_window=128_000), counter)
    fitted = fitter.fit(thread, pinned=0, fixed_tokens=300)
    assert fitted.refitted and len(thread) == 10_000
    assert_well_fitted(fitted, fitter, 300)
    spy = spy_on(counter, monkeypatch)
    thread += tool_loop(1)[1:]  # one more step: a call and its result
    again = fitter.fit(thread, pinned=0, fixed_tokens=300)
    assert (again.refitted, len(spy.texts)) == (False, 2)  # two new messages: two encoder calls, nothing else
    assert list(again.messages) == [*fitted.messages, *thread[-2:]]
    assert isinstance(again.messages, WindowView) and list(fitted.messages) == list(again.messages)[:-2]


def test_counting_the_thread_again_with_two_messages_appended_encodes_only_those(
        monkeypatch: pytest.MonkeyPatch) -> None:
    thread = wire_thread("anthropic/messages", "anthropic", 10_000)
    counter = TokenCounter("claude-sonnet-4-5")
    fitter = ContextFitter(ContextPolicy(context_window=10_000_000), counter)  # nothing to drop
    first = fitter.fit(thread)
    spy = spy_on(counter, monkeypatch)
    thread += [Message.user("And in Rome?"), Message.assistant("Warmer.")]
    second = fitter.fit(thread)
    assert spy.texts == ["And in Rome?", "Warmer."]
    assert second.tokens == first.tokens + counter.count_messages(thread[-2:])
    assert second.messages is thread and not second.refitted


# --- behaviour ------------------------------------------------------------------------------------------


def test_nothing_changes_while_the_conversation_fits() -> None:
    thread = tool_loop(3)
    fitted = ContextFitter(ContextPolicy(), TokenCounter("gpt-4o")).fit(thread, pinned=0, fixed_tokens=10)
    assert fitted == Fitted(messages=thread, dropped=0, shortened=0, refitted=False,
                            tokens=TokenCounter("gpt-4o").count_messages(thread) + 10 + 3)
    assert fitted.messages is thread


@pytest.mark.parametrize("fitter", [
    ContextFitter(ContextPolicy(), TokenCounter("some-local-model")),  # unknown window
    ContextFitter(ContextPolicy(enabled=False), TokenCounter("gpt-4")),
    ContextFitter(ContextPolicy(), TokenCounter()),  # no model, no window
], ids=["unknown-window", "disabled", "no-model"])
def test_without_a_known_window_or_when_disabled_nothing_is_fitted(fitter: ContextFitter) -> None:
    thread = tool_loop(2000)  # far beyond gpt-4's 8,192
    fitted = fitter.fit(thread, pinned=0)
    assert (fitted.messages is thread, fitted.dropped, fitted.refitted, fitter.limit) == (True, 0, False, None)
    assert fitted.tokens == fitter.counter.count_messages(thread) + fitter.counter.request_overhead


def test_after_one_fit_the_next_steps_append_until_the_window_overflows_again() -> None:
    thread = tool_loop(400)
    fitter = ContextFitter(ContextPolicy(context_window=12_000, reply_reserve=2_000), TokenCounter("gpt-4o"))
    first = fitter.fit(thread, pinned=0)
    assert first.refitted and first.tokens <= 8_000
    step = 400
    history: list[bool] = []
    while True:
        thread += tool_loop(step + 1)[-2:]
        step += 1
        fitted = fitter.fit(thread, pinned=0)
        history.append(fitted.refitted)
        if fitted.refitted:
            break
        assert fitted.tokens <= 10_000 and fitted.dropped == first.dropped
    assert len(history) > 20 and history[:-1] == [False] * (len(history) - 1)
    assert fitted.tokens <= 8_000 and pairing_problems(fitted.messages) == []


def test_long_tool_outputs_are_cut_oldest_first_with_a_marker_before_turns_are_dropped() -> None:
    thread = tool_loop(7, output="word " * 3000)  # each output ~3,000 tokens
    before = snapshot(thread)
    counter = TokenCounter("gpt-4o")
    policy = ContextPolicy(context_window=20_000, reply_reserve=1_000, max_tool_output_tokens=1_000)
    fitted = ContextFitter(policy, counter).fit(thread, pinned=0)
    assert fitted.dropped == 0 and 0 < fitted.shortened < 7
    outputs = [m for m in fitted.messages if m.role == "tool"]
    cut = [m for m in outputs if "tokens cut from the middle of this tool output" in m.tool_results[0].content]
    assert outputs[: len(cut)] == cut  # the oldest ones
    first = cut[0].tool_results[0].content
    head, marker_and_tail = first.split("\n[... ", 1)
    assert head.startswith("0: word word") and marker_and_tail.endswith("word ")
    assert CUT_MARKER.split("{cut}")[1] in first and counter.count_text(first) <= 1_000
    assert cut[0].id == f"{thread[2].id}~cut1000" and cut[0].tool_results[0].tool_call_id == "call_0"
    assert snapshot(thread) == before and fitted.tokens <= 0.8 * 19_000


def test_the_task_message_is_kept_and_without_one_a_note_opens_the_window() -> None:
    thread = [Message.assistant("Earlier answer. " * 50), *tool_loop(150, task="The task.")]
    policy = ContextPolicy(context_window=5_000, reply_reserve=1_000)
    pinned = ContextFitter(policy, TokenCounter("gpt-4o")).fit(thread, pinned=1)
    assert pinned.messages[0] is thread[1] and pinned.messages[1].role == "assistant"
    loose = ContextFitter(policy, TokenCounter("gpt-4o")).fit(thread, pinned=None)
    note = loose.messages[0]
    assert note.role == "user" and note.text == (f"[{loose.dropped:,} earlier messages of this conversation were "
                                                  "left out to fit the model's context window.]")
    assert note not in thread and loose.messages[1].role == "assistant"
    assert violations(loose.messages)["anthropic"] == []
    dropping = ContextFitter(ContextPolicy(context_window=5_000, reply_reserve=1_000, keep_task=False),
                             TokenCounter("gpt-4o")).fit(thread, pinned=1)
    assert thread[1] not in dropping.messages and dropping.messages[0].role == "user"


def test_a_task_message_named_after_a_fit_that_left_it_out_is_brought_back() -> None:
    thread = tool_loop(200)
    fitter = ContextFitter(ContextPolicy(context_window=6_000, reply_reserve=1_000), TokenCounter("gpt-4o"))
    assert thread[0] not in fitter.fit(thread).messages
    again = fitter.fit(thread, pinned=0)
    assert again.refitted and again.messages[0] is thread[0]
    assert not fitter.fit([*thread, Message.user("more")], pinned=0).refitted


def test_a_thread_that_opens_with_orphan_results_never_starts_the_window_with_them() -> None:
    orphan = Message(role="tool", parts=(ToolResultPart(tool_call_id="gone", name="x", content="old " * 400),))
    thread = [orphan, Message.user("Go on."), *tool_loop(100)[1:]]
    assert units_of(thread)[:2] == [0, 1]
    fitted = ContextFitter(ContextPolicy(context_window=4_000, reply_reserve=500),
                           TokenCounter("gpt-4o")).fit(thread, pinned=1)
    assert fitted.messages[0] is thread[1] and pairing_problems(fitted.messages) == []


def test_a_call_and_its_result_stay_in_one_unit_whatever_lies_between() -> None:
    call_a = Message(role="assistant", parts=(ToolCallPart(id="a", name="f", arguments="{}"),))
    call_b = Message(role="assistant", parts=(ToolCallPart(id="b", name="f", arguments="{}"),))
    aside = Message.user("")
    result_a = Message(role="tool", parts=(ToolResultPart(tool_call_id="a", name="f", content="1"),))
    result_b = Message(role="tool", parts=(ToolResultPart(tool_call_id="b", name="f", content="2"),))
    unanswered = Message(role="assistant", parts=(ToolCallPart(id="c", name="f", arguments="{}"),))
    thread = [Message.user("go"), call_a, call_b, aside, result_a, result_b, unanswered, Message.user("next")]
    assert units_of(thread) == [0, 1, 6, 7]


def test_a_list_that_is_not_an_append_starts_over() -> None:
    fitter = ContextFitter(ContextPolicy(context_window=6_000, reply_reserve=1_000), TokenCounter("gpt-4o"))
    first = fitter.fit(tool_loop(200), pinned=0)
    other = tool_loop(10)
    second = fitter.fit(other, pinned=0)
    assert first.refitted and second.refitted and second.messages is other
    assert not fitter.fit([*other, Message.user("more")], pinned=0).refitted


def test_when_even_the_task_and_the_last_turn_do_not_fit_the_error_says_by_how_much() -> None:
    thread = [Message.user("Summarise this: " + "lorem ipsum " * 3000), *tool_loop(3)[1:]]
    fitter = ContextFitter(ContextPolicy(context_window=4_000, reply_reserve=1_000), TokenCounter("gpt-4o"))
    with pytest.raises(ContextOverflowError, match=r"needs about 6,\d{3} tokens \(203 of them for the system prompt "
                                                   r"and tools\), but the window of 4,000 tokens minus the reply "
                                                   r"reserve of 1,000 leaves 3,000") as caught:
        fitter.fit(thread, pinned=0, fixed_tokens=200)
    assert (caught.value.window, caught.value.reserve) == (4_000, 1_000) and caught.value.needed > 3_000


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"pinned": 5}, r"pinned must be None or the index of a message \(0 to 2\), got 5"),
    ({"pinned": True}, "pinned must be None or the index"),
    ({"fixed_tokens": -1}, r"fixed_tokens must be a number of tokens \(0 or more\), got -1"),
])
def test_fit_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ContextFitter(ContextPolicy(), TokenCounter("gpt-4o")).fit(tool_loop(1), **kwargs)


def test_fitter_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"the context window \(4000\) must be larger than reply_reserve \(4096\)"):
        ContextFitter(ContextPolicy(), TokenCounter("gpt-4o"), window=4000)
    with pytest.raises(ValueError, match="window must be a positive number of tokens, got -1"):
        ContextFitter(ContextPolicy(), TokenCounter("gpt-4o"), window=-1)
    assert ContextFitter(ContextPolicy(), TokenCounter("anthropic:claude-opus-4-1")).window == 200_000
    assert ContextFitter(ContextPolicy(context_window=50_000), TokenCounter("gpt-4o")).limit == 50_000 - 4096


# --- any turn structure ---------------------------------------------------------------------------------

_TEXT = st.integers(min_value=1, max_value=400).map(lambda n: "lorem ipsum " * n)


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[Message], int | None]:
    """Random valid threads: user turns, assistant text, and assistant turns with 1-3 calls whose
    results come as one tool message each or all in one; some outputs huge."""
    thread: list[Message] = [Message.user(draw(_TEXT))]
    users = [0]
    for turn in range(draw(st.integers(min_value=1, max_value=40))):
        kind = draw(st.sampled_from(["user", "text", "calls", "calls"]))
        if kind == "user":
            users.append(len(thread))
            thread.append(Message.user(draw(_TEXT)))
        elif kind == "text":
            thread.append(Message.assistant(draw(_TEXT)))
        else:
            ids = [f"c{turn}_{k}" for k in range(draw(st.integers(min_value=1, max_value=3)))]
            thread.append(Message(role="assistant", parts=tuple(
                ToolCallPart(id=i, name="f", arguments='{"q": 1}') for i in ids)))
            results = [ToolResultPart(tool_call_id=i, name="f", content=draw(st.one_of(_TEXT, st.just("x " * 9000))))
                       for i in ids]
            if draw(st.booleans()):
                thread.append(Message(role="tool", parts=tuple(results)))
            else:
                thread += [Message(role="tool", parts=(r,)) for r in results]
    return thread, draw(st.one_of(st.none(), st.sampled_from(users)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations(), st.integers(min_value=2_000, max_value=30_000), st.sampled_from([0.5, 0.8, 1.0]),
       st.sampled_from([None, 64, 500, 4000]), st.sampled_from(["gpt-4o", "claude-sonnet-4-5"]))
def test_any_fit_pairs_calls_with_results_and_respects_the_budget(
        case: tuple[list[Message], int | None], window: int, target: float, cap: int | None, model: str) -> None:
    thread, pinned = case
    before = snapshot(thread)
    policy = ContextPolicy(context_window=window, reply_reserve=window // 10, target=target,
                           max_tool_output_tokens=cap)
    fitter = ContextFitter(policy, TokenCounter(model))
    half = len(thread) // 2  # first a fit of the first half, so the second call goes through the append path
    with contextlib.suppress(ContextOverflowError):
        fitter.fit(thread[:half], pinned=pinned if pinned is not None and pinned < half else None, fixed_tokens=100)
    try:
        fitted = fitter.fit(thread, pinned=pinned, fixed_tokens=100)
    except ContextOverflowError as exc:
        assert exc.needed > window - window // 10
        return
    finally:
        assert snapshot(thread) == before
    assert_well_fitted(fitted, fitter, 100)
    if pinned is not None:
        assert thread[pinned] in fitted.messages
    assert fitted.messages[-1].id.split("~")[0] == thread[-1].id  # the last turn is always kept
