"""HTML for notebooks: executions, results and threads as `_repr_html_`.

Every rendering is parsed with `html.parser` into a tree: the tags must balance, only a small set of
harmless tags and attributes may appear (so nothing stored can become markup), and the assertions read
the tree's text the way a person reads the page. Real-shaped threads come from the recorded traffic in
tests/wire parsed by the adapters; hypothesis feeds random and malformed message lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wire
from loopline import LLMProvider, threads
from loopline._html import PAYLOAD_LIMIT
from loopline.errors import UnknownThreadError
from loopline.loop import Execution, ExecutionError, ExecutionResult, ExecutionStatus, execution_html, messages_html
from loopline.loop._messages_html import HEAD_STEPS, HTML_BUDGET, MAX_PARTS, TAIL_STEPS
from loopline.messages import (
    FilePart,
    Message,
    OpaquePart,
    Part,
    ReasoningPart,
    RefusalPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from loopline.providers import get_adapter
from loopline.store import InMemoryStore, ThreadInfo

ALLOWED_TAGS = {"div", "span", "b", "code", "pre", "details", "summary", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_ATTRIBUTES = {"style", "title"}
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp; </pre></details>'
FAILURE_NOTE = "could not be shown"
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- a tree of the produced HTML ----------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find_all(self, tag: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and n is not self]

    def first(self, tag: str) -> Node:
        return self.find_all(tag)[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack = [Node("#root")]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, f"unexpected <{tag}>"
        assert {name for name, _ in attrs} <= ALLOWED_ATTRIBUTES, f"unexpected attributes {attrs}"
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise AssertionError(f"unexpected self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        assert len(self.stack) > 1, f"</{tag}> closes nothing"
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    """The tree of `html`; fails unless it is well formed and made only of the allowed tags."""
    assert isinstance(html, str) and html
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert [n.tag for n in builder.stack] == ["#root"], "unclosed tags"
    return builder.stack[0]


@dataclass(frozen=True)
class Folded:
    """One `<details>` block as read: its label badge, the name, the id in its body, its payload."""

    label: str
    name: str
    id: str
    payload: str | None
    open: bool


def folded(root: Node) -> list[Folded]:
    out = []
    for details in root.find_all("details"):
        summary = details.first("summary")
        body = details.children[1]
        assert isinstance(body, Node)
        codes = summary.find_all("code")
        pres = body.find_all("pre")
        body_codes = body.find_all("code")
        out.append(Folded(label=summary.first("span").text, name=codes[0].text if codes else "",
                          id=body_codes[0].text if body_codes else "", payload=pres[0].text if pres else None,
                          open="open" in details.attrs))
    return out


def rows(table: Node) -> list[tuple[str, str]]:
    return [(cells[0].text, cells[1].text) for cells in (tr.find_all("td") for tr in table.find_all("tr"))]


def headers(root: Node) -> list[int]:
    """The positions of the messages shown (each message's header carries its time as a `title`)."""
    return [int(n.text.split(" · ")[0].lstrip("#").replace(",", ""))
            for n in root.find_all("div") if "title" in n.attrs]


def title(root: Node) -> str:
    """The title line of a card."""
    return root.find_all("div")[1].text


def prose(root: Node) -> list[str]:
    """The texts shown as prose (message text, reasoning, refusals), in order."""
    return [n.text for n in root.find_all("div") if n.attrs.get("style", "").startswith("white-space")]


def same_payload(shown: str | None, original: str) -> bool:
    """The payload block shows `original` (indented when it is JSON, cut at the limit otherwise)."""
    assert shown is not None
    try:
        return bool(json.loads(shown) == json.loads(original))
    except ValueError:
        return shown == original[:PAYLOAD_LIMIT]


# --- fixtures -----------------------------------------------------------------------------------------

CALL = ToolCallPart(id="call_1", name="get_weather", arguments='{"city": "Oslo"}')
RESULT = ToolResultPart(tool_call_id="call_1", name="get_weather", content="3°C and sunny")
CONVERSATION = [
    Message(role="user", parts=(TextPart(text="Weather in Oslo?"),), created_at=1.0),
    Message(role="assistant", parts=(ReasoningPart(text="I should look it up."), CALL), created_at=2.0,
            model="gpt-4o", usage=Usage(input_tokens=120, output_tokens=8, requests=1), stop_reason="tool_calls"),
    Message(role="tool", parts=(RESULT,), created_at=3.0),
    Message(role="assistant", parts=(TextPart(text="3°C in Oslo."),), created_at=4.0, model="gpt-4o",
            usage=Usage(input_tokens=140, output_tokens=6, requests=1), stop_reason="stop"),
]


def _failed_execution() -> Execution:
    e = Execution(id="exe_1", thread_id="thr_1", agent_name="researcher", input="Is it warmer in Oslo or Rome?",
                  created_at=1000.0, status_history=[(ExecutionStatus.PENDING, 1000.0)])
    e.set_status(ExecutionStatus.RUNNING, 1000.5)
    e.set_status(ExecutionStatus.FAILED, 1003.7)
    e.error = ExecutionError(code="max_steps", message="the execution took 3 steps, its limit")
    e.usage = Usage(input_tokens=1234, output_tokens=56, cached_tokens=1000, reasoning_tokens=20, requests=3)
    e.steps, e.tool_calls, e.cost_usd = 3, 2, 0.0123
    return e


# --- escaping -----------------------------------------------------------------------------------------


def _evil_messages() -> list[Message]:
    parts: tuple[Part, ...] = (
        TextPart(text=EVIL),
        ToolCallPart(id=EVIL, name=EVIL, arguments=EVIL),
        ToolResultPart(tool_call_id=EVIL, name=EVIL, content=EVIL, is_error=True),
        ReasoningPart(text=EVIL),
        FilePart(media_type=EVIL, filename=EVIL, url="https://x/" + EVIL),
        RefusalPart(text=EVIL),
        OpaquePart(provider=EVIL, data={"type": EVIL, "payload": EVIL}),
    )
    return [Message(role="assistant", parts=parts, model=EVIL, stop_reason="length")]


def test_stored_text_never_becomes_markup() -> None:
    root = parse(messages_html(_evil_messages()))  # only allowed tags and attributes, balanced
    assert [(f.label, f.name) for f in folded(root)] == [("call", EVIL), ("result", EVIL), ("reasoning", ""),
                                                         (EVIL, "")]  # the last: the opaque block's provider
    assert [f.payload for f in folded(root)] == [EVIL, EVIL, None, json.dumps(
        {"type": EVIL, "payload": EVIL}, ensure_ascii=False, indent=2)]
    assert prose(root) == [EVIL, EVIL, EVIL]  # the text, the reasoning, the refusal, each shown as written


def test_execution_result_and_thread_escape_their_fields_too() -> None:
    e = Execution(thread_id=EVIL, agent_name=EVIL, input=EVIL, result={"answer": EVIL})
    result = ExecutionResult(status=ExecutionStatus.FAILED, result=None, error=EVIL, error_code=EVIL,
                             execution_id=EVIL, thread_id=EVIL, usage=Usage(), steps=0)
    info = ThreadInfo(id=EVIL, created_at=0.0, updated_at=0.0, length=1, metadata={"note": EVIL},
                      parent_thread_id=EVIL)
    view = threads.ThreadView(info=info, messages=tuple(_evil_messages()), executions=(e,))
    for html in (e._repr_html_(), result._repr_html_(), info._repr_html_(), view._repr_html_()):
        root = parse(html)
        assert EVIL in root.text
        assert FAILURE_NOTE not in root.text


def test_control_characters_and_lone_surrogates_are_shown_as_escapes() -> None:
    root = parse(messages_html([Message.user("a\x00b\x1bc\ud800d\te")]))
    assert prose(root) == ["a\\x00b\\x1bc\\ud800d\te"]


# --- folding and bounds -------------------------------------------------------------------------------


def test_calls_results_and_reasoning_are_folded_and_text_is_not() -> None:
    root = parse(messages_html(CONVERSATION))
    assert folded(root) == [
        Folded(label="reasoning", name="", id="", payload=None, open=False),
        Folded(label="call", name="get_weather", id="call_1", payload='{\n  "city": "Oslo"\n}', open=False),
        Folded(label="result", name="get_weather", id="call_1", payload="3°C and sunny", open=False),
    ]
    assert prose(root) == ["Weather in Oslo?", "I should look it up.", "3°C in Oslo."]
    assert [t for details in root.find_all("details") for t in prose(details)] == ["I should look it up."]
    assert headers(root) == [0, 1, 2, 3]
    assert "#1 · assistant · gpt-4o · 120 in / 8 out" in root.text


def test_long_texts_are_cut_with_a_note_of_what_was_left_out() -> None:
    huge = Message(role="tool", parts=(ToolResultPart(tool_call_id="c", name="dump", content="x" * 50_000),))
    html = messages_html([Message.user("a" * 1_000_000), huge])
    assert len(html) < 10_000
    root = parse(html)
    assert "… 998,000 more characters not shown" in root.text
    assert "… 48,000 more characters not shown" in root.text
    assert [f.payload for f in folded(root)] == ["x" * PAYLOAD_LIMIT]


def test_a_10000_message_thread_shows_its_first_and_last_steps() -> None:
    messages = [Message.user(f"question {i}") if i % 2 == 0 else Message.assistant(f"answer {i}")
                for i in range(10_000)]
    html = messages_html(messages)
    assert len(html) < 100_000
    root = parse(html)
    assert headers(root) == [*range(HEAD_STEPS), *range(10_000 - TAIL_STEPS, 10_000)]
    assert "… 9,960 more steps (#20 to #9,979) not shown …" in root.text
    assert "answer 9999" in root.text and "question 20" not in root.text


def test_a_thread_of_huge_messages_stays_within_the_budget() -> None:
    part = TextPart(text="<" * 5_000)  # each character is escaped to four
    messages = [Message(role="user", parts=(part,) * (MAX_PARTS + 5)) for _ in range(100)]
    html = messages_html(messages)
    one_message = len(messages_html(messages[:1]))
    assert len(html) <= HTML_BUDGET + 2 * one_message
    root = parse(html)
    shown = headers(root)
    assert len(shown) < HEAD_STEPS + TAIL_STEPS
    assert f"… {100 - len(shown)} more steps" in root.text
    assert root.text.count("… 5 more parts not shown") == len(shown)


def test_an_empty_conversation_says_so() -> None:
    assert parse(messages_html([])).text == "no messages"


# --- executions and results -----------------------------------------------------------------------------


def test_an_execution_shows_status_usage_cost_steps_duration_and_error() -> None:
    root = parse(_failed_execution()._repr_html_())
    assert rows(root.first("table")) == [
        ("status", "FAILED"),
        ("agent", "researcher"),
        ("steps", "3 steps, 2 tool calls"),
        ("tokens", "1,234 input (1,000 cached) · 56 output (20 reasoning) · 3 requests"),
        ("cost", "$0.0123"),
        ("duration", "3.2 s"),
        ("created", "1970-01-01 00:16:40 UTC"),
        ("thread", "thr_1"),
    ]
    assert title(root) == "Execution exe_1"
    assert "error max_steps" in root.text
    assert "the execution took 3 steps, its limit" in root.text
    assert "Is it warmer in Oslo or Rome?" in root.text
    history = root.first("details")
    assert history.first("summary").text == "status history (3)"
    assert rows(history.first("table")) == [("1970-01-01 00:16:40 UTC", "PENDING"),
                                            ("1970-01-01 00:16:40 UTC", "RUNNING"),
                                            ("1970-01-01 00:16:43 UTC", "FAILED")]
    assert "trajectory: loopline.threads.view('thr_1')" in root.text


def test_an_execution_with_its_messages_shows_the_trajectory_and_open_calls() -> None:
    e = Execution(id="exe_2", thread_id="thr_2", agent_name="a", input="go", pending_tool_calls=(CALL,),
                  awaiting_approval=("call_1",), status=ExecutionStatus.PAUSED, cost_usd=0.000412)
    root = parse(execution_html(e, CONVERSATION))
    assert ("status", "PAUSED") in rows(root.first("table"))
    assert ("cost", "$0.000412") in rows(root.first("table"))
    assert ("duration", "not started") in rows(root.first("table"))
    assert "awaiting approval call_1" in root.text
    assert [f.label for f in folded(root)] == ["call", "status history (1)", "reasoning", "call", "result"]
    assert headers(root) == [0, 1, 2, 3]


def test_a_result_shows_its_outcome_usage_and_how_to_see_the_trajectory() -> None:
    result = ExecutionResult(status=ExecutionStatus.COMPLETED, result={"warmer": "Rome", "by": 9},
                             error=None, error_code=None, execution_id="exe_1", thread_id="thr_1",
                             usage=Usage(input_tokens=2_000, output_tokens=300, requests=2), steps=2, cost_usd=12.345)
    root = parse(result._repr_html_())
    assert rows(root.first("table")) == [
        ("status", "COMPLETED"),
        ("steps", "2 steps"),
        ("tokens", "2,000 input · 300 output · 2 requests"),
        ("cost", "$12.35"),
        ("execution", "exe_1"),
        ("thread", "thr_1"),
    ]
    assert json.loads(root.first("pre").text) == {"warmer": "Rome", "by": 9}
    assert "trajectory: loopline.threads.view('thr_1')" in root.text
    assert str(result) == 'COMPLETED after 2 steps (2,300 tokens, $12.35) - result: { "warmer": "Rome", "by": 9 }'


def test_a_model_that_reported_failure_shows_the_error_and_its_explanation() -> None:
    result = ExecutionResult(status=ExecutionStatus.FAILED, result="No weather service answers for Oslo.",
                             error="the model reported failure", error_code="model_failure", execution_id="exe_3",
                             thread_id="thr_3", usage=Usage(), steps=1)
    root = parse(result._repr_html_())
    assert prose(root) == ["the model reported failure", "No weather service answers for Oslo."]
    assert "error model_failure" in root.text and "result" in root.text


def test_plain_summaries_say_what_came_of_it_on_one_line() -> None:
    e = _failed_execution()
    assert str(e) == ("Execution exe_1 of researcher on thr_1: FAILED after 3 steps (1,290 tokens, $0.0123)"
                      " - max_steps: the execution took 3 steps, its limit")
    text = ExecutionResult(status=ExecutionStatus.COMPLETED, result="word " * 100, error=None, error_code=None,
                           execution_id="e", thread_id="t", usage=Usage(), steps=1)
    assert str(text) == "COMPLETED after 1 step (0 tokens, $0) - result: " + ("word " * 16).strip() + "…"
    assert repr(text).startswith("ExecutionResult(status=<ExecutionStatus.COMPLETED")  # the dataclass repr stays


# --- threads --------------------------------------------------------------------------------------------


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


def test_a_thread_view_shows_the_record_the_executions_and_the_trajectory(store: InMemoryStore) -> None:
    thread_id = store.create_thread(metadata={"topic": "weather"})
    e = Execution(thread_id=thread_id, agent_name="researcher", input="Weather in Oslo?", created_at=10.0)
    e.set_status(ExecutionStatus.RUNNING, 10.0)
    e.set_status(ExecutionStatus.COMPLETED, 12.5)
    e.result, e.steps, e.usage = "3°C in Oslo.", 2, Usage(input_tokens=260, output_tokens=14)
    store.commit(e, CONVERSATION, expected_length=0)

    view = threads.view(thread_id, store=store)
    assert view.messages == tuple(store.get_messages(thread_id))
    assert view.executions == (store.get_execution(e.id),)
    assert repr(view) == f"ThreadView(id={thread_id!r}, messages=4, executions=1, last COMPLETED)"
    root = parse(view._repr_html_())
    record, executions = root.find_all("table")[:2]
    assert [name for name, _ in rows(record)] == ["messages", "created", "updated", "metadata"]
    assert rows(record)[0] == ("messages", "4") and rows(record)[3] == ("metadata", '{"topic": "weather"}')
    assert [c.text for c in executions.find_all("td")] == [e.id, "researcher", "COMPLETED", "2", "274", "$0",
                                                           "2.5 s", ""]
    assert [(f.label, f.name) for f in folded(root)] == [("reasoning", ""), ("call", "get_weather"),
                                                         ("result", "get_weather")]
    assert "Trajectory (4 messages)" in root.text


def test_viewing_an_unknown_thread_is_a_named_error(store: InMemoryStore) -> None:
    with pytest.raises(UnknownThreadError):
        threads.view("thr_missing", store=store)


def test_a_thread_record_shows_as_a_small_table() -> None:
    info = ThreadInfo(id="thr_9", created_at=0.0, updated_at=60.0, length=12_000, parent_thread_id="thr_1")
    root = parse(info._repr_html_())
    assert title(root) == "Thread thr_9"
    assert rows(root.first("table")) == [("messages", "12,000"), ("created", "1970-01-01 00:00:00 UTC"),
                                         ("updated", "1970-01-01 00:01:00 UTC"), ("forked from", "thr_1")]


# --- real-shaped threads from the wire corpus ---------------------------------------------------------

APIS = {"openai/chat.completions": LLMProvider.OPEN_AI, "anthropic/messages": LLMProvider.ANTHROPIC,
        "openai/responses": LLMProvider.OPEN_AI_RESPONSES}
WIRE = [p for api in APIS for p in wire.params(api, lambda w: not w.is_error, prefix_ids=True)]


def _thread_of(w: wire.WireFile) -> list[Message]:
    """The conversation a recorded exchange holds: its request's messages, then the response."""
    provider = APIS[f"{w.data['provider']}/{w.data['api']}"]
    adapter = get_adapter(provider)
    conversation = w.request[adapter.messages_key]
    history = [Message.user(conversation)] if isinstance(conversation, str) else adapter.parse(conversation)
    return [*history, *adapter.parse(w.response)]


@pytest.mark.parametrize("w", WIRE)
def test_a_recorded_thread_shows_every_tool_call_and_result(w: wire.WireFile) -> None:
    messages = _thread_of(w)
    calls = [c for m in messages for c in m.tool_calls]
    names = {c.id: c.name for c in calls}
    results = [r for m in messages for r in m.tool_results]
    root = parse(messages_html(messages))
    shown = folded(root)
    assert [(f.name, f.id) for f in shown if f.label == "call"] == [(c.name, c.id) for c in calls]
    assert [(f.name, f.id) for f in shown if f.label == "result"] == [
        (r.name or names.get(r.tool_call_id, "(unnamed tool)"), r.tool_call_id) for r in results]
    payloads = [f.payload for f in shown if f.label in ("call", "result")]
    originals = [p.arguments if isinstance(p, ToolCallPart) else p.content
                 for m in messages for p in m.parts if isinstance(p, (ToolCallPart, ToolResultPart))]
    assert [same_payload(s, o) if o else s is None for s, o in zip(payloads, originals, strict=True)] == \
        [True] * len(originals)
    assert headers(root) == list(range(len(messages)))
    assert FAILURE_NOTE not in root.text


# --- never raises ---------------------------------------------------------------------------------------

_TEXT = st.text(max_size=40)
_ID = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=20)  # shown exactly (no escapes needed)
_PARTS = st.one_of(
    st.builds(TextPart, text=_TEXT),
    st.builds(ToolCallPart, id=_ID, name=_TEXT, arguments=_TEXT, tool_type=st.sampled_from(["function", "custom"])),
    st.builds(ToolResultPart, tool_call_id=_TEXT, name=_TEXT, content=_TEXT, is_error=st.booleans()),
    st.builds(ReasoningPart, text=_TEXT, redacted=st.booleans()),
    st.builds(FilePart, media_type=_TEXT, data=st.none() | _TEXT, url=st.none() | _TEXT, filename=st.none() | _TEXT),
    st.builds(RefusalPart, text=_TEXT),
    st.builds(OpaquePart, provider=_TEXT, data=st.dictionaries(_TEXT, _TEXT | st.integers(), max_size=3)),
)
_USAGE = st.builds(Usage, input_tokens=st.integers(0, 10**9), output_tokens=st.integers(0, 10**9))
_MESSAGES = st.builds(
    Message, role=st.sampled_from(["system", "user", "assistant", "tool"]),
    parts=st.tuples(*[_PARTS] * 3) | st.just(()), model=st.none() | _TEXT, usage=st.none() | _USAGE,
    created_at=st.floats(allow_nan=True), stop_reason=st.none() | st.sampled_from(["stop", "length", "refusal"]))


@SETTINGS
@given(st.lists(_MESSAGES, max_size=60), st.integers(0, 10**6))
def test_any_message_list_renders_well_formed(messages: list[Message], first: int) -> None:
    root = parse(messages_html(messages, first_position=first))
    assert FAILURE_NOTE not in root.text
    expected = range(first, first + len(messages))
    shown = headers(root)
    if len(messages) <= HEAD_STEPS + TAIL_STEPS:
        assert shown == list(expected)
    else:
        assert shown == [*expected[:HEAD_STEPS], *expected[-TAIL_STEPS:]]
    visible = [messages[position - first] for position in shown]
    assert [f.id for f in folded(root) if f.label == "call"] == [c.id for m in visible for c in m.tool_calls]


class _Hostile:
    """A value whose every readable form raises."""

    def __str__(self) -> str:
        raise RuntimeError("no")

    __repr__ = __str__


_JUNK: st.SearchStrategy[Any] = st.one_of(st.none(), st.integers(), st.floats(), _TEXT, st.just(_Hostile()),
                                          st.lists(st.integers(), max_size=2))
_ODD_PARTS = st.one_of(
    _PARTS, _JUNK, st.builds(TextPart, text=_JUNK), st.builds(ToolCallPart, id=_JUNK, name=_JUNK, arguments=_JUNK),
    st.builds(ToolResultPart, tool_call_id=_JUNK, name=_JUNK, content=_JUNK),
    st.builds(FilePart, media_type=_JUNK, data=_JUNK), st.builds(OpaquePart, provider=_JUNK, data=_JUNK))
_ODD_MESSAGES = st.one_of(
    _MESSAGES, _JUNK, st.builds(Message, role=_JUNK, parts=st.lists(_ODD_PARTS, max_size=4) | _JUNK, model=_JUNK,
                                usage=_JUNK, stop_reason=_JUNK, created_at=_JUNK))


@SETTINGS
@given(st.lists(_ODD_MESSAGES, max_size=8))
def test_odd_message_lists_never_raise(messages: list[Any]) -> None:
    parse(messages_html(messages))


@SETTINGS
@given(st.fixed_dictionaries({"status": _JUNK | st.sampled_from(list(ExecutionStatus)), "usage": _JUNK,
                              "result": _JUNK, "error": _JUNK, "cost_usd": _JUNK, "status_history": _JUNK,
                              "steps": _JUNK, "pending_tool_calls": _JUNK, "input": _JUNK}))
def test_odd_executions_results_and_views_never_raise(fields: dict[str, Any]) -> None:
    e = Execution(thread_id="t", agent_name="a", input="i")
    for name, value in fields.items():
        setattr(e, name, value)
    result = ExecutionResult(status=fields["status"], result=fields["result"], error=fields["error"],
                             error_code=fields["input"], execution_id="e", thread_id="t", usage=fields["usage"],
                             steps=fields["steps"], cost_usd=fields["cost_usd"])
    info = ThreadInfo(id=fields["input"], created_at=fields["cost_usd"], updated_at=0.0, length=fields["steps"])
    view = threads.ThreadView(info=info, messages=(fields["result"],), executions=(e,))
    for html in (e._repr_html_(), result._repr_html_(), info._repr_html_(), view._repr_html_()):
        parse(html)
