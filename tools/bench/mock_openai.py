"""A local mock of the Chat Completions endpoint for benchmarks (127.0.0.1 only, a separate process).

It answers every request with a tool call until the conversation holds `--steps` assistant turns,
then with a call to `finish`. Run: python mock_openai.py PORT_FILE [--steps 50]; it writes its port.
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def completion(turn: int, steps: int) -> dict[str, Any]:
    name, args = ("finish", {"result": "done", "is_success": True}) if turn >= steps else (
        "lookup", {"key": f"k{turn}", "page": 2})
    call = {"id": f"call_{turn:04d}abcdefghijklmnop", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)}}
    return {"id": f"chatcmpl-{turn}", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                         "message": {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}}],
            "usage": {"prompt_tokens": 100 + turn, "completion_tokens": 20, "total_tokens": 120 + turn}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port_file")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            turn = 1 + sum(1 for m in body["messages"] if m.get("role") == "assistant")
            payload = json.dumps(completion(turn, args.steps)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(args.port_file).write_text(str(server.server_address[1]))
    try:
        server.serve_forever()
    finally:
        server.server_close()
        sys.exit(0)


if __name__ == "__main__":
    main()
