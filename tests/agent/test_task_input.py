"""A task's `input`: text or content parts, checked before anything is created, and always readable back.

Every form `add_task` accepts is stored in a real SQLite file and read back by a fresh store (thread
and `Execution.input`), and renders for each provider; every form it refuses raises `InvalidInputError`
naming the type and leaves no execution and no thread behind.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from loopline import Agent, LLMProvider, SQLiteStore
from loopline.errors import InvalidInputError, UsageError
from loopline.messages import FilePart, Message, TextPart

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
PHOTO = FilePart(media_type="image/png", data=PNG, filename="photo.png")

ACCEPTED: list[tuple[str, Any, str, tuple[Any, ...]]] = [  # name, input, Execution.input, the message's parts
    ("text", "Is it warmer in Oslo or Rome?", "Is it warmer in Oslo or Rome?",
     (TextPart(text="Is it warmer in Oslo or Rome?"),)),
    ("strings", ["Compare", "Oslo and Rome"], "Compare\nOslo and Rome",
     (TextPart(text="Compare"), TextPart(text="Oslo and Rome"))),
    ("a tuple of parts", (TextPart(text="Describe it"), PHOTO), "Describe it", (TextPart(text="Describe it"), PHOTO)),
    ("one part", TextPart(text="alone"), "alone", (TextPart(text="alone"),)),
    ("chat blocks", [{"type": "text", "text": "What is this?"},
                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}],
     "What is this?", (TextPart(text="What is this?"), FilePart(media_type="image/png", data=PNG))),
    ("an image by URL", ["See", {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}}], "See",
     (TextPart(text="See"), FilePart(media_type="image/*", url="https://example.test/a.png"))),
    ("responses blocks", [{"type": "input_text", "text": "What is this?"},
                          {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}],
     "What is this?", (TextPart(text="What is this?"), FilePart(media_type="image/png", data=PNG))),
    ("anthropic blocks", [{"type": "text", "text": "What is this?"},
                          {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}],
     "What is this?", (TextPart(text="What is this?"), FilePart(media_type="image/png", data=PNG))),
    ("one block", {"type": "text", "text": "just this"}, "just this", (TextPart(text="just this"),)),
    ("only an image", [PHOTO], "", (PHOTO,)),
]


@pytest.mark.parametrize(("form", "given", "recorded", "parts"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_every_accepted_input_is_stored_and_read_back_by_a_fresh_store(
        form: str, given: Any, recorded: str, parts: tuple[Any, ...], tmp_path: Path) -> None:
    db = tmp_path / "input.db"
    agent = Agent("reader", store=SQLiteStore(db))
    execution = agent.add_task(given)
    assert agent.thread == [Message(id=agent.thread[0].id, role="user", parts=parts,
                                    created_at=agent.thread[0].created_at)]

    fresh = SQLiteStore(db)  # another process's view: nothing is read from memory
    assert fresh.get_messages(execution.thread_id) == agent.thread
    assert fresh.get_execution(execution.id).input == recorded
    [listed] = fresh.list_executions(agent_name="reader")
    assert listed.input == recorded
    for provider in (LLMProvider.OPEN_AI, LLMProvider.OPEN_AI_RESPONSES, LLMProvider.ANTHROPIC):
        assert agent.get_messages(provider)  # the stored task renders for every provider


REFUSED: list[tuple[Any, str]] = [  # input, what the message says it is
    (None, "input is None"),
    (42, "input is of type int"),
    (4.2, "input is of type float"),
    (True, "input is of type bool"),
    (b"raw", r"input is of type bytes \(attach bytes with files=\)"),
    (object(), "input is of type object"),
    ({1, 2}, "input is of type set"),
    ([], "input is empty"),
    ("", "input is empty"),
    (["  ", "\n"], "input is empty"),
    (["fine", None], r"input\[1\] is None"),
    (["fine", 7], r"input\[1\] is of type int"),
    ([{"type": "text"}], r"input\[0\] is a 'text' block without a string 'text'"),
    ([{"type": "text", "text": None}], r"input\[0\] is a 'text' block without a string 'text'"),
    ([{"type": "made_up", "x": 1}], r"input\[0\] is a 'made_up' block, which is no text, image or file block"),
    ([{"no": "type"}], r"input\[0\] is a dict without a 'type' key \(its keys: 'no'\)"),
    ([TextPart(text=None)], "cannot be stored as given"),  # type: ignore[arg-type]
    ([FilePart(media_type=None, data=PNG)], "cannot be stored as given"),  # type: ignore[arg-type]
    (["see", FilePart(media_type="image/png", data="not base64!")], r"input\[1\]: FilePart.data is not valid base64"),
]


@pytest.mark.parametrize(("given", "says"), REFUSED)
def test_input_that_cannot_be_stored_and_read_back_is_refused_and_nothing_is_created(
        given: Any, says: str, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "input.db")
    agent = Agent("reader", store=store)
    with pytest.raises(InvalidInputError, match=says) as info:
        agent.add_task(given)
    assert isinstance(info.value, UsageError) and info.value.field.startswith("input")
    assert agent.execution is None
    assert list(store.list_executions(agent_name="reader")) == []
    assert list(store.list_threads()) == []
    agent.add_task("a good one")  # the agent is free
    assert [m.text for m in SQLiteStore(tmp_path / "input.db").get_messages(agent.thread_id or "")] == ["a good one"]


def test_a_continued_thread_is_not_touched_by_a_refused_input(tmp_path: Path) -> None:
    db = tmp_path / "input.db"
    first = Agent("first", store=SQLiteStore(db))
    first.add_task("Hello")
    first.add_messages([{"role": "assistant", "content": "Hi."}])
    second = Agent("second", store=SQLiteStore(db))
    with pytest.raises(InvalidInputError, match="input is None"):
        second.add_task(None, thread_id=first.thread_id)  # type: ignore[arg-type]
    assert [m.text for m in SQLiteStore(db).get_messages(first.thread_id or "")] == ["Hello", "Hi."]
    second.add_task(["And now?"], thread_id=first.thread_id)
    assert [m.text for m in SQLiteStore(db).get_messages(first.thread_id or "")] == ["Hello", "Hi.", "And now?"]
