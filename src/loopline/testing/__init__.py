"""The testing layer: public test doubles, request blocking, cassettes and trajectory assertions.

- `ScriptedModel`: a model that answers from a script (responses in any of the three wire formats,
  streams, `reply(...)` values, exceptions, or a function of the request) and records every request.
- `block_model_requests()` / `allow_model_requests()`: the switch that keeps tests from reaching a
  provider; the pytest plugin (`loopline.testing.pytest_plugin`) turns it on in every test.
- `use_cassette`: replay (or record) HTTP traffic with vcrpy, secret-free by construction; the
  plugin's `loopline_cassette` marker and fixture use it per test.
- `assert_tool_calls`, `assert_result`, `tool_calls`: what an agent did, with readable diffs.

Nothing below imports it. Needs the `testing` extra (vcrpy) for cassettes only.
"""

from ._blocking import (
    allow_model_requests,
    block_model_requests,
    model_requests_blocked,
    set_model_requests_blocked,
)
from ._calls import Call, call
from ._cassette import REQUEST_HEADERS, RESPONSE_HEADERS, CassetteError, use_cassette
from ._replies import Reply, reply
from ._scripted import ScriptedModel
from ._synthesize import synthesize_stream
from ._trajectory import assert_result, assert_tool_calls, tool_calls

__all__ = [
    "Call",
    "CassetteError",
    "REQUEST_HEADERS",
    "RESPONSE_HEADERS",
    "Reply",
    "ScriptedModel",
    "allow_model_requests",
    "assert_result",
    "assert_tool_calls",
    "block_model_requests",
    "call",
    "model_requests_blocked",
    "reply",
    "set_model_requests_blocked",
    "synthesize_stream",
    "tool_calls",
    "use_cassette",
]
