"""The testing layer: public test doubles, request blocking, cassettes and trajectory assertions.

- `ScriptedModel`: a model that answers from a script (responses in any of the three wire formats,
  streams, `reply(...)` values, exceptions, or a function of the request) and records every request.
- `block_model_requests()` / `allow_model_requests()`: the switch that keeps tests from reaching a
  provider; the pytest plugin (`loopline.testing.pytest_plugin`) turns it on in every test.
- `use_cassette`: replay (or record) HTTP traffic with vcrpy, secret-free by construction; the
  plugin's `loopline_cassette` marker and fixture use it per test.
- `assert_tool_calls`, `assert_result`, `tool_calls`: what an agent did, with readable diffs.

Nothing below imports it. Needs the `testing` extra (vcrpy) for cassettes only. The names are
imported on first use, so loading the pytest plugin (a module of this package, loaded into every
pytest session where loopline is installed) does not import the agent, the SDKs or vcrpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from ..providers import synthesize_stream
    from ._blocking import (
        allow_model_requests,
        block_model_requests,
        model_requests_blocked,
        set_model_requests_blocked,
    )
    from ._calls import Call, call
    from ._cassette import QUERY_PARAMETERS, REQUEST_HEADERS, RESPONSE_HEADERS, CassetteError, use_cassette
    from ._replies import Reply, reply
    from ._scripted import ScriptedModel
    from ._trajectory import assert_result, assert_tool_calls, tool_calls

__all__ = [
    "Call",
    "CassetteError",
    "QUERY_PARAMETERS",
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

_HOMES = {
    "Call": "_calls", "call": "_calls",
    "CassetteError": "_cassette", "QUERY_PARAMETERS": "_cassette", "REQUEST_HEADERS": "_cassette",
    "RESPONSE_HEADERS": "_cassette", "use_cassette": "_cassette",
    "Reply": "_replies", "reply": "_replies",
    "ScriptedModel": "_scripted",
    "allow_model_requests": "_blocking", "block_model_requests": "_blocking",
    "model_requests_blocked": "_blocking", "set_model_requests_blocked": "_blocking",
    "assert_result": "_trajectory", "assert_tool_calls": "_trajectory", "tool_calls": "_trajectory",
    "synthesize_stream": ".providers",
}
"""Which private module each public name lives in."""

__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
