"""The SSE codec: what the server encodes, every client decodes to the same events, whatever the data."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopline._sse import SSEDecoder, comment, encode

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                     max_leaves=10)


def _decode(raw: bytes, decoder: SSEDecoder | None = None) -> list:
    decoder = decoder or SSEDecoder()
    return list(decoder.feed_all(re.split(r"\r\n|\r|\n", raw.decode())[:-1]))


@given(data=_json, event=st.sampled_from(["status", "tool_call", "finished"]), seq=st.integers(1, 10**9))
def test_every_json_value_survives_a_round_trip_with_its_id_and_type(data: object, event: str, seq: int) -> None:
    [decoded] = _decode(encode(data, event=event, id=seq))
    assert (decoded.event, decoded.id, decoded.json()) == (event, str(seq), data)
    assert encode(data).isascii()  # a client splitting lines at U+2028 or U+0085 still sees one line


def test_data_over_several_lines_comes_back_whole_and_an_unnamed_event_is_a_message() -> None:
    [decoded] = list(SSEDecoder().feed_all(["data: first", "data: second", "data:", "data: fourth", ""]))
    assert decoded.data == "first\nsecond\n\nfourth"
    assert decoded.event == "message"


def test_comments_are_ignored_and_the_last_id_is_kept_for_a_reconnect() -> None:
    decoder = SSEDecoder()
    raw = encode({"n": 1}, id=1) + comment("keepalive") + encode({"n": 2}, id=2, event="step")
    events = _decode(raw, decoder)
    assert [e.json()["n"] for e in events] == [1, 2]
    assert decoder.last_event_id == "2"


def test_an_event_cut_before_its_blank_line_is_not_delivered() -> None:
    decoder = SSEDecoder()
    assert _decode(encode({"n": 1}, id=1)[:-1], decoder) == []  # the stream broke mid-event
    assert decoder.last_event_id is None  # so a reconnect asks for it again


def test_retry_and_fields_without_a_space_are_read_as_the_standard_says() -> None:
    [decoded] = list(SSEDecoder().feed_all(["retry: 3000", "id:7", "data:{\"a\":1}", ""]))
    assert (decoded.retry, decoded.id, json.loads(decoded.data)) == (3000, "7", {"a": 1})


@pytest.mark.parametrize("field", ["id", "event"])
def test_a_line_break_in_an_id_or_event_name_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        encode({}, **{field: "a\nb"})  # type: ignore[arg-type]
