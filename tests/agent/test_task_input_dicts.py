"""A dict given as `input=` that is no content block: the refusal says what the dict lacks (its keys, no
`type`) and, for a file dict (`{"name", "content"}`), that it belongs in `files=`."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from loopline import Agent, SQLiteStore
from loopline.errors import InvalidInputError

CSV = {"name": "data.csv", "content": base64.b64encode(b"a,b\n1,2\n").decode()}


@pytest.mark.parametrize(("given", "says", "hint"), [
    ({"a": 1}, "input is a dict without a 'type' key (its keys: 'a')", False),
    ([{"a": 1, "b": 2}], "input[0] is a dict without a 'type' key (its keys: 'a', 'b')", False),
    ({}, "input is a dict without a 'type' key (its keys: none)", False),
    (CSV, "input is a dict without a 'type' key (its keys: 'name', 'content')", True),
    (["see the file", {**CSV, "media_type": "text/csv"}], "input[1] is a dict without a 'type' key", True),
])
def test_a_dict_that_is_no_block_is_named_by_its_keys(given: Any, says: str, hint: bool, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "input.db")
    agent = Agent("reader", store=store)
    with pytest.raises(InvalidInputError) as info:
        agent.add_task(given)
    message = str(info.value)
    assert says in message and "None block" not in message
    assert ("pass it as files=[" in message) is hint
    assert list(store.list_threads()) == []


def test_the_file_dict_the_message_points_to_is_taken_by_files(tmp_path: Path) -> None:
    agent = Agent("reader", store=SQLiteStore(tmp_path / "input.db"))
    agent.add_task("Sum the columns.", files=[CSV])
    assert agent.execution is not None
