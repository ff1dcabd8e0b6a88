"""A stand-in provider on 127.0.0.1 for the README's examples: Chat Completions, Responses and Messages.

The README shows real code (`OpenAI()`, `anthropic.Anthropic()`, `agent.run(model="gpt-4o")`); the test
that runs it points the SDKs here with `OPENAI_BASE_URL` / `ANTHROPIC_BASE_URL`. The server answers like
a diligent model: it calls each offered tool once, with arguments made from the tool's schema, then
calls `finish` (or, without a finish tool, says it is done). Bodies are rendered by
`loopline.testing.reply`, and streams by `synthesize_stream`, so they are shaped like the real APIs'.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loopline import LLMProvider
from loopline.testing import Reply, call, reply, synthesize_stream

EXAMPLES = {"city": "Oslo", "location": "Oslo", "country": "Norway", "query": "loopline", "key": "k1"}


def example(schema: dict[str, Any], name: str = "") -> Any:
    """A value the schema accepts, chosen to read well in the README's output."""
    kinds = schema.get("type")
    kind = next((k for k in kinds if k != "null"), "null") if isinstance(kinds, list) else kinds
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return example(next(s for s in schema["anyOf"] if s.get("type") != "null"), name)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: example(v, k) for k, v in props.items() if k in schema.get("required", props)}
    if kind == "array":
        return [example(schema.get("items", {}), name)]
    return {"integer": 1, "number": 1.5, "boolean": True, "null": None}.get(str(kind), EXAMPLES.get(name, "example"))


def _tools(request: dict[str, Any], provider: LLMProvider) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for t in request.get("tools") or []:
        if provider is LLMProvider.ANTHROPIC:
            found[t["name"]] = t.get("input_schema", {})
        elif provider is LLMProvider.OPEN_AI_RESPONSES:
            found[t["name"]] = t.get("parameters") or {}
        else:
            found[t["function"]["name"]] = t["function"].get("parameters") or {}
    return found


def _called(request: dict[str, Any], provider: LLMProvider) -> list[str]:
    if provider is LLMProvider.OPEN_AI_RESPONSES:
        items = request.get("input") or []
        return [i["name"] for i in items if isinstance(i, dict) and i.get("type") == "function_call"]
    names: list[str] = []
    for m in request.get("messages") or []:
        if m.get("role") != "assistant":
            continue
        if provider is LLMProvider.ANTHROPIC and isinstance(m.get("content"), list):
            names += [b["name"] for b in m["content"] if b.get("type") == "tool_use"]
        names += [c["function"]["name"] for c in m.get("tool_calls") or []]
    return names


def answer(request: dict[str, Any], provider: LLMProvider) -> Reply:
    """The next move: each tool once, then finish."""
    tools, called = _tools(request, provider), set(_called(request, provider))
    fresh = [name for name in tools if name != "finish" and name not in called]
    if fresh:
        return reply(call(fresh[0], example(tools[fresh[0]])), input_tokens=120, output_tokens=20)
    if "finish" in tools:
        result = example(tools["finish"].get("properties", {}).get("result", {"type": "string"}), "result")
        text = "Oslo is 12 degrees and cloudy." if result == "example" else result
        return reply(call("finish", {"result": text, "is_success": True}), input_tokens=150, output_tokens=25)
    return reply("Done: Oslo is 12 degrees and cloudy.", input_tokens=100, output_tokens=10)


class _Handler(BaseHTTPRequestHandler):
    turns = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        provider = (LLMProvider.ANTHROPIC if self.path.endswith("/messages") else
                    LLMProvider.OPEN_AI_RESPONSES if self.path.endswith("/responses") else LLMProvider.OPEN_AI)
        type(self).turns += 1
        response = answer(body, provider).render(provider, turn=type(self).turns, model=body.get("model", "model"))
        if body.get("stream"):
            events = synthesize_stream(response, provider)
            named = provider is not LLMProvider.OPEN_AI
            text = "".join((f"event: {e['type']}\n" if named else "") + f"data: {json.dumps(e)}\n\n" for e in events)
            self._send(text + ("" if named else "data: [DONE]\n\n"), "text/event-stream")
        else:
            self._send(json.dumps(response), "application/json")

    def _send(self, text: str, content_type: str) -> None:
        data = text.encode()
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ReadmeServer:
    """The server, on a free port, in a daemon thread; `received` holds each request's path and body."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._server.received = self.received  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ReadmeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
