"""Re-record cassettes/runs/: `agent.run`, `arun`, `stream` and `astream` on all three wire APIs, and a hand-off.

For each API (Chat Completions through `openai.OpenAI`, Responses through its `responses`, Anthropic
Messages through `anthropic.Anthropic`) and each way of running, the flight researcher of
examples/trip_desk.py answers its question: two tool calls in parallel (one fails: it was given a city
name where an airport code belongs), a corrected call, then the finish call. The hand-off cassette
continues one thread across APIs: Chat (`run`) -> Anthropic (`stream`) -> Responses (`arun`).

With OPENAI_API_KEY / ANTHROPIC_API_KEY set, that API is recorded live (the honest way). Without, an
in-process transport (httpx2.MockTransport, which both SDKs use) plays the model: it reads the
conversation in each request as a model would (the task, the tools offered, the tool results it got)
and answers in that API's exact wire shape, after the real recordings in tests/wire: ids, usage
details, headers, and for `stream: true` the SSE event sequence each server really sends. Token counts
come from the o200k tokenizer. The cassette's metadata note says which APIs were scripted.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import bpe_openai
import httpx2
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import trip_desk as desk

from loopline import ExecutionResult, InMemoryStore, Store
from loopline.testing import use_cassette

APIS = {"chat": desk.CHAT_MODEL, "responses": desk.RESPONSES_MODEL, "anthropic": desk.ANTHROPIC_MODEL}
SERVED_MODEL = {"chat": "gpt-4o-mini-2024-07-18", "responses": "gpt-5-mini-2025-08-07",
                "anthropic": "claude-sonnet-4-6"}
KEY_OF = {"chat": "OPENAI_API_KEY", "responses": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
CODES = {"Oslo": "OSL", "Lisbon": "LIS"}
TRAVEL_DATE = "2025-06-14"
ANTHROPIC_TOOL_PROMPT = 346
"""Tokens of the system prompt Anthropic adds when tools are offered (Claude Sonnet 4.6, tool_choice auto)."""

_ENCODING = bpe_openai.get_encoding("o200k_base")


def scripted_note(apis: list[str]) -> str:
    """The cassette note for traffic (partly) answered by the scripted transport."""
    keys = " / ".join(sorted({KEY_OF[a] for a in apis}))
    return (f"Scripted, not a live model, for {', '.join(apis)}: no {keys} was available, so tools/record_runs.py "
            "answered each request with a response (or server-sent-event stream) shaped after the real recordings in "
            "tests/wire, deciding each turn from the conversation in the request as a model would. The requests "
            f"are exactly what loopline sent. Re-record with {keys} set for live traffic.")


# --- reading a request as the model would ----------------------------------------------------------


@dataclass
class Call:
    id: str
    name: str
    args: dict[str, Any]


@dataclass
class Conversation:
    """What a model reads in a request: the tools offered and the turns, with each call's result."""

    tools: list[str]
    turns: list[tuple[str, Any]] = field(default_factory=list)
    """("user", text), ("call", Call) or ("result", (call id, content text))."""

    def results(self, *, since_task: bool) -> list[tuple[Call, str]]:
        """(call, result text) in order; since the last user message, or all."""
        start = max((i for i, (kind, _) in enumerate(self.turns) if kind == "user"), default=0) if since_task else 0
        calls = {t[1].id: t[1] for t in self.turns if t[0] == "call"}
        return [(calls[value[0]], value[1]) for kind, value in self.turns[start:]
                if kind == "result" and value[0] in calls]

    def last_ok(self, name: str, *, since_task: bool = False) -> Any:
        """The parsed result of the last call to `name` that did not fail, or None."""
        found = [r for c, r in self.results(since_task=since_task) if c.name == name and not r.startswith("Error")]
        return json.loads(found[-1]) if found else None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))


def read_chat(body: dict[str, Any]) -> Conversation:
    convo = Conversation(tools=[t["function"]["name"] for t in body.get("tools", [])])
    for m in body["messages"]:
        if m["role"] == "user":
            convo.turns.append(("user", _text(m["content"])))
        for c in m.get("tool_calls") or []:
            convo.turns.append(("call", Call(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))))
        if m["role"] == "tool":
            convo.turns.append(("result", (m["tool_call_id"], _text(m["content"]))))
    return convo


def read_responses(body: dict[str, Any]) -> Conversation:
    convo = Conversation(tools=[t["name"] for t in body.get("tools", [])])
    for item in body["input"]:
        if item.get("role") == "user":
            convo.turns.append(("user", _text(item["content"])))
        elif item.get("type") == "function_call":
            convo.turns.append(("call", Call(item["call_id"], item["name"], json.loads(item["arguments"]))))
        elif item.get("type") == "function_call_output":
            convo.turns.append(("result", (item["call_id"], _text(item["output"]))))
    return convo


def read_anthropic(body: dict[str, Any]) -> Conversation:
    convo = Conversation(tools=[t["name"] for t in body.get("tools", [])])
    for m in body["messages"]:
        blocks: list[dict[str, Any]] = ([{"type": "text", "text": m["content"]}] if isinstance(m["content"], str)
                                        else m["content"])
        for b in blocks:
            if b["type"] == "tool_use":
                convo.turns.append(("call", Call(b["id"], b["name"], b["input"])))
            elif b["type"] == "tool_result":
                convo.turns.append(("result", (b["tool_use_id"], _text(b["content"]))))
            elif b["type"] == "text" and m["role"] == "user":
                convo.turns.append(("user", b["text"]))
    return convo


# --- the scripted model's decisions ----------------------------------------------------------------


@dataclass
class Turn:
    """One response: text (said before any calls, or the whole reply) and the calls, in order."""

    text: str | None
    calls: list[tuple[str, dict[str, Any]]]


def decide(api: str, convo: Conversation) -> Turn:
    """The next turn, from the tools offered and what the conversation holds. Claude says a sentence
    before its tool calls; the OpenAI models call tools without a word."""
    if "find_flights" in convo.tools:
        turn = _research(convo)
    elif "convert_currency" in convo.tools:
        turn = _budget(convo)
    else:
        return Turn(_note(convo), [])
    return turn if api == "anthropic" or not turn.calls else Turn(None, turn.calls)


def _cheapest_direct(flights: list[dict[str, Any]]) -> dict[str, Any]:
    return min((f for f in flights if f["stops"] == 0), key=lambda f: f["price"])


def _research(convo: Conversation) -> Turn:
    recent = convo.results(since_task=True)
    if not recent:
        return Turn("I'll search for flights and check the Lisbon forecast at the same time.", [
            ("find_flights", {"origin": "Oslo", "destination": "Lisbon", "date": TRAVEL_DATE}),
            ("get_weather", {"city": "Lisbon", "date": TRAVEL_DATE})])
    flights = convo.last_ok("find_flights", since_task=True)
    if flights is None:
        last = next(c for c, _ in reversed(recent) if c.name == "find_flights")
        fixed = {**last.args, "origin": CODES[last.args["origin"]], "destination": CODES[last.args["destination"]]}
        return Turn("The flight search wants airport codes, so I'll retry with OSL and LIS.", [("find_flights", fixed)])
    best, sky = _cheapest_direct(flights), convo.last_ok("get_weather", since_task=True)
    result = (f"The cheapest direct flight is {best['carrier']} {best['flight']} on 14 June 2025, leaving Oslo at "
              f"{best['departs']} and landing in Lisbon at {best['arrives']}, for {best['price']} {best['currency']}. "
              f"Lisbon will be {sky['sky']} when you land: {sky['low_c']}-{sky['high_c']} °C with a light wind of "
              f"{sky['wind_kmh']} km/h.")
    return Turn("I have the flights and the forecast.", [("finish", {"result": result, "is_success": True})])


def _budget(convo: Conversation) -> Turn:
    converted = convo.last_ok("convert_currency", since_task=True)
    if converted is None:
        best = _cheapest_direct(convo.last_ok("find_flights"))
        return Turn(f"I'll convert the {best['price']} {best['currency']} fare to euros.", [
            ("convert_currency", {"amount": best["price"], "from_currency": best["currency"], "to_currency": "EUR"})])
    result = (f"The {converted['amount']:g} {converted['from']} fare is about {converted['converted']:.2f} EUR "
              f"(at {converted['rate']} EUR per {converted['from']}).")
    return Turn(None, [("finish", {"result": result, "is_success": True})])


def _note(convo: Conversation) -> str:
    best, sky = _cheapest_direct(convo.last_ok("find_flights")), convo.last_ok("get_weather")
    euros = convo.last_ok("convert_currency")
    return (f"Your cheapest direct flight is {best['carrier']} {best['flight']} on 14 June, leaving Oslo at "
            f"{best['departs']} and landing in Lisbon at {best['arrives']} for {best['price']} {best['currency']} "
            f"(about {euros['converted']:.2f} EUR). Pack sunglasses and light clothes: Lisbon expects {sky['sky']} "
            f"skies and {sky['low_c']}-{sky['high_c']} °C.")


# --- ids, clocks and tokens, deterministic per cassette --------------------------------------------

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class Ids:
    """Provider-shaped ids and times from a seed, so re-recording a cassette reproduces it byte for byte."""

    def __init__(self, seed: str) -> None:
        self.seed, self.count = seed, 0
        self.now = 1795400000 + self.number(86400)
        self.conversation = self.chars("0123456789abcdef", 16)  # Responses ids of one conversation share it

    def number(self, below: int) -> int:
        self.count += 1
        return int.from_bytes(hashlib.sha256(f"{self.seed}:{self.count}".encode()).digest()[:8], "big") % below

    def chars(self, alphabet: str, n: int) -> str:
        return "".join(alphabet[self.number(len(alphabet))] for _ in range(n))

    def tick(self) -> int:
        self.now += 2 + self.number(5)
        return self.now

    def responses_id(self, prefix: str) -> str:
        return f"{prefix}_{self.conversation}00{self.now:08x}{self.chars('0123456789abcdef', 24)}"

    def obfuscation(self) -> str:
        return self.chars(_ALNUM, 1 + self.number(15))


def tokens(text: str) -> list[str]:
    """`text` split into its o200k tokens (how OpenAI streams text and arguments)."""
    return [_ENCODING.decode([t]) for t in _ENCODING.encode(text)]


def count(text: str) -> int:
    return len(_ENCODING.encode(text))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in ([k] if k != "type" else []) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def prompt_tokens(body: dict[str, Any], api: str) -> int:
    """About what the provider counts: the text of every message and tool, plus per-message framing."""
    turns = body.get("messages", body.get("input", []))
    text = [body.get("system", ""), body.get("instructions", ""), *_strings(turns), *_strings(body.get("tools", []))]
    extra = ANTHROPIC_TOOL_PROMPT if api == "anthropic" and body.get("tools") else 0
    return sum(count(s) for s in text if s) + 4 * len(turns) + 3 + extra


def completion_tokens(turn: Turn, api: str) -> int:
    per_call = 30 if api == "anthropic" else 6  # Claude's tool_use blocks cost more framing
    return count(turn.text or "") + sum(count(n) + count(json.dumps(a)) + per_call for n, a in turn.calls) + 1


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _sse(events: list[Any], *, named: bool = False, done: bool = False) -> str:
    lines = []
    for event in events:
        data = event if isinstance(event, str) else _compact(event)
        lines.append((f"event: {json.loads(data)['type']}\n" if named else "") + f"data: {data}\n\n")
    return "".join(lines) + ("data: [DONE]\n\n" if done else "")


# --- Chat Completions (after wire/openai/chat.completions 003, 005, 006, 012) ----------------------


def chat_calls(turn: Turn, ids: Ids) -> list[dict[str, Any]]:
    return [{"id": f"call_{ids.chars(_ALNUM, 24)}", "type": "function",
             "function": {"name": n, "arguments": _compact(a)}} for n, a in turn.calls]


def chat_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0}}


def chat_json(turn: Turn, body: dict[str, Any], ids: Ids) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text}
    if turn.calls:
        message["tool_calls"] = chat_calls(turn, ids)
    message.update(refusal=None, annotations=[])
    return {"id": f"chatcmpl-{ids.chars(_ALNUM, 29)}", "object": "chat.completion", "created": ids.tick(),
            "model": SERVED_MODEL["chat"],
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if turn.calls else "stop"}],
            "usage": chat_usage(prompt_tokens(body, "chat"), completion_tokens(turn, "chat")),
            "service_tier": "default", "system_fingerprint": "fp_d0469e1700"}


def chat_sse(turn: Turn, body: dict[str, Any], ids: Ids) -> str:
    head = {"id": f"chatcmpl-{ids.chars(_ALNUM, 29)}", "object": "chat.completion.chunk", "created": ids.tick(),
            "model": SERVED_MODEL["chat"], "service_tier": "default", "system_fingerprint": "fp_d0469e1700"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                "usage": None, "obfuscation": ids.obfuscation()}

    deltas: list[dict[str, Any]] = []
    calls = chat_calls(turn, ids)
    for i, call in enumerate(calls):
        opening = [{"index": i, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}]
        deltas.append({"tool_calls": opening})
        deltas += [{"tool_calls": [{"index": i, "function": {"arguments": t}}]}
                   for t in tokens(call["function"]["arguments"])]
    if len(calls) == 1:  # one call: its opening rides in the first chunk (005); several: a role chunk first (003)
        deltas[0] = {"role": "assistant", "content": None, **deltas[0], "refusal": None}
    elif calls:
        deltas.insert(0, {"role": "assistant", "content": None})
    else:
        deltas = [{"role": "assistant", "content": "", "refusal": None},
                  *({"content": t} for t in tokens(turn.text or ""))]
    usage = chat_usage(prompt_tokens(body, "chat"), completion_tokens(turn, "chat"))
    events = [chunk(d) for d in deltas] + [chunk({}, "tool_calls" if calls else "stop"),
                                           {**head, "choices": [], "usage": usage, "obfuscation": ids.obfuscation()}]
    return _sse(events, done=True)


# --- Responses (after wire/openai/responses 005, 006, 008, 009, 010) -------------------------------


def responses_items(turn: Turn, ids: Ids) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"id": ids.responses_id("rs"), "type": "reasoning", "summary": []}]
    if turn.text is not None:
        items.append({"id": ids.responses_id("msg"), "type": "message", "status": "completed",
                      "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": turn.text}],
                      "role": "assistant"})
    items += [{"id": ids.responses_id("fc"), "type": "function_call", "status": "completed", "arguments": _compact(a),
               "call_id": f"call_{ids.chars(_ALNUM, 24)}", "name": n} for n, a in turn.calls]
    return items


def responses_object(body: dict[str, Any], rid: str, created: int, *, output: list[dict[str, Any]],
                     usage: dict[str, Any] | None) -> dict[str, Any]:
    done = usage is not None
    return {"id": rid, "object": "response", "created_at": created, "status": "completed" if done else "in_progress",
            "background": False, "billing": {"payer": "developer"}, "completed_at": created + 2 if done else None,
            "error": None, "frequency_penalty": 0.0, "incomplete_details": None,
            "instructions": body.get("instructions"), "max_output_tokens": None, "max_tool_calls": None,
            "model": SERVED_MODEL["responses"], "output": output, "parallel_tool_calls": True,
            "presence_penalty": 0.0, "previous_response_id": None, "prompt_cache_key": None,
            "prompt_cache_retention": None, "reasoning": {"effort": "medium", "summary": None},
            "safety_identifier": None, "service_tier": "default" if done else "auto", "store": True,
            "temperature": 1.0, "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
            "tools": [{"type": t["type"], "description": t.get("description"), "name": t["name"],
                       "parameters": t["parameters"], "strict": t.get("strict", True)} for t in body.get("tools", [])],
            "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled", "usage": usage, "user": None, "metadata": {}}


def responses_usage(turn: Turn, body: dict[str, Any], ids: Ids) -> dict[str, Any]:
    prompt, reasoning = prompt_tokens(body, "responses"), 64 * (1 + ids.number(5))
    output = completion_tokens(turn, "responses") + reasoning
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": prompt + output}


def responses_json(turn: Turn, body: dict[str, Any], ids: Ids) -> dict[str, Any]:
    created = ids.tick()
    return responses_object(body, ids.responses_id("resp"), created, output=responses_items(turn, ids),
                            usage=responses_usage(turn, body, ids))


def _responses_item_events(index: int, item: dict[str, Any], ids: Ids) -> list[dict[str, Any]]:
    """The events that stream one output item, as the server sends them (sequence numbers added later)."""
    where = {"item_id": item["id"], "output_index": index}
    if item["type"] == "reasoning":
        return [{"type": "response.output_item.added", "output_index": index, "item": item},
                {"type": "response.output_item.done", "output_index": index, "item": item}]
    if item["type"] == "function_call":
        return [{"type": "response.output_item.added", "output_index": index,
                 "item": {**item, "status": "in_progress", "arguments": ""}},
                *({"type": "response.function_call_arguments.delta", **where, "delta": t,
                   "obfuscation": ids.obfuscation()} for t in tokens(item["arguments"])),
                {"type": "response.function_call_arguments.done", **where, "arguments": item["arguments"]},
                {"type": "response.output_item.done", "output_index": index, "item": item}]
    part, text, at = item["content"][0], item["content"][0]["text"], {**where, "content_index": 0}
    return [{"type": "response.output_item.added", "output_index": index,
             "item": {**item, "status": "in_progress", "content": []}},
            {"type": "response.content_part.added", **at, "part": {**part, "text": ""}},
            *({"type": "response.output_text.delta", **at, "delta": t, "logprobs": [],
               "obfuscation": ids.obfuscation()} for t in tokens(text)),
            {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **at, "part": part},
            {"type": "response.output_item.done", "output_index": index, "item": item}]


def responses_sse(turn: Turn, body: dict[str, Any], ids: Ids) -> str:
    created = ids.tick()
    rid = ids.responses_id("resp")
    items = responses_items(turn, ids)
    opening = responses_object(body, rid, created, output=[], usage=None)
    events = [{"type": "response.created", "response": opening}, {"type": "response.in_progress", "response": opening}]
    for index, item in enumerate(items):
        events += _responses_item_events(index, item, ids)
    final = responses_object(body, rid, created, output=items, usage=responses_usage(turn, body, ids))
    events.append({"type": "response.completed", "response": final})
    numbered = [{"type": e["type"], "sequence_number": n, **{k: v for k, v in e.items() if k != "type"}}
                for n, e in enumerate(events)]
    return _sse(numbered, named=True)


# --- Anthropic Messages (after wire/anthropic/messages 004, 005, 013, 015) -------------------------


def anthropic_blocks(turn: Turn, ids: Ids) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    return blocks + [{"type": "tool_use", "id": f"toolu_01{ids.chars(_BASE58, 22)}", "name": n, "input": a}
                     for n, a in turn.calls]


def anthropic_usage(prompt: int, output: int) -> dict[str, Any]:
    return {"input_tokens": prompt, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output, "service_tier": "standard", "inference_geo": "global"}


def anthropic_message(turn: Turn, ids: Ids, content: list[dict[str, Any]], usage: dict[str, Any],
                      *, done: bool) -> dict[str, Any]:
    return {"model": SERVED_MODEL["anthropic"], "id": f"msg_01{ids.chars(_BASE58, 22)}", "type": "message",
            "role": "assistant", "content": content,
            "stop_reason": ("tool_use" if turn.calls else "end_turn") if done else None, "stop_sequence": None,
            "usage": usage}


def anthropic_json(turn: Turn, body: dict[str, Any], ids: Ids) -> dict[str, Any]:
    usage = anthropic_usage(prompt_tokens(body, "anthropic"), completion_tokens(turn, "anthropic"))
    return anthropic_message(turn, ids, anthropic_blocks(turn, ids), usage, done=True)


def _groups(pieces: list[str], size: int) -> list[str]:
    """Claude streams a few tokens per delta."""
    return ["".join(pieces[i:i + size]) for i in range(0, len(pieces), size)]


def _anthropic_block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    start: dict[str, Any]
    if block["type"] == "text":
        deltas = [{"type": "text_delta", "text": t} for t in _groups(tokens(block["text"]), 3)]
        start = {"type": "text", "text": ""}
    else:
        pieces = ["", *_groups(tokens(json.dumps(block["input"], ensure_ascii=False)), 3)]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        start = {**block, "input": {}}
    return [{"type": "content_block_start", "index": index, "content_block": start},
            *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
            {"type": "content_block_stop", "index": index}]


def anthropic_sse(turn: Turn, body: dict[str, Any], ids: Ids) -> str:
    prompt, output = prompt_tokens(body, "anthropic"), completion_tokens(turn, "anthropic")
    message = anthropic_message(turn, ids, [], anthropic_usage(prompt, 1), done=False)
    events: list[Any] = [{"type": "message_start", "message": message}]
    for index, block in enumerate(anthropic_blocks(turn, ids)):
        events += _anthropic_block_events(index, block)
        if index == 0:
            events.insert(2, '{"type": "ping"}')  # after the first block's start, exactly as the server writes it
    events += [{"type": "message_delta", "delta": {"stop_reason": "tool_use" if turn.calls else "end_turn",
                                                   "stop_sequence": None},
                "usage": {"input_tokens": prompt, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "output_tokens": output}},
               {"type": "message_stop"}]
    return _sse(events, named=True)


# --- the scripted transport ------------------------------------------------------------------------

_ROUTES: dict[str, tuple[str, Callable[[dict[str, Any]], Conversation], Callable[..., Any], Callable[..., str]]] = {
    "/v1/chat/completions": ("chat", read_chat, chat_json, chat_sse),
    "/v1/responses": ("responses", read_responses, responses_json, responses_sse),
    "/v1/messages": ("anthropic", read_anthropic, anthropic_json, anthropic_sse),
}


class ScriptedServer:
    """Answers every request of one cassette; a function of the request and the seed only."""

    def __init__(self, seed: str) -> None:
        self.ids = Ids(seed)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        api, read, as_json, as_sse = _ROUTES[request.url.path]
        body = json.loads(request.content)
        turn = decide(api, read(body))
        if api == "anthropic":
            headers = {"request-id": f"req_011C{self.ids.chars(_BASE58, 20)}"}
        else:
            headers = {"openai-version": "2020-10-01", "openai-processing-ms": str(180 + self.ids.number(1400)),
                       "x-request-id": f"req_{self.ids.chars('0123456789abcdef', 32)}"}
        if body.get("stream"):
            return httpx2.Response(200, content=as_sse(turn, body, self.ids).encode(),
                                   headers={"content-type": "text/event-stream; charset=utf-8", **headers})
        return httpx2.Response(200, json=as_json(turn, body, self.ids), headers=headers)

    def client(self, api: str, *, asynchronous: bool) -> Any:
        transport = httpx2.MockTransport(self)
        http: Any = httpx2.AsyncClient(transport=transport) if asynchronous else httpx2.Client(transport=transport)
        if api == "anthropic":
            cls: Any = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
            return cls(api_key="scripted-no-key", http_client=http, max_retries=0)
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        return cls(api_key="scripted-no-key", base_url="https://api.openai.com/v1", http_client=http, max_retries=0)


def live_client(api: str, *, asynchronous: bool) -> Any:
    if api == "anthropic":
        return anthropic.AsyncAnthropic() if asynchronous else anthropic.Anthropic()
    return openai.AsyncOpenAI() if asynchronous else openai.OpenAI()


# --- recording -------------------------------------------------------------------------------------


def _clients(seed: str, apis: list[str]) -> tuple[Callable[[str, bool], Any], list[str]]:
    server = ScriptedServer(seed)
    scripted = [a for a in apis if not os.environ.get(KEY_OF[a])]

    def make(api: str, asynchronous: bool) -> Any:
        return server.client(api, asynchronous=asynchronous) if api in scripted else live_client(
            api, asynchronous=asynchronous)

    return make, scripted


def _cassette_note(scripted: list[str]) -> str:
    return scripted_note(scripted) if scripted else "Live traffic recorded by tools/record_runs.py."


def record_run(api: str, way: str) -> ExecutionResult:
    """cassettes/runs/<api>_<way>.yaml: the researcher's task on one API, run one way."""
    name = f"{api}_{way}"
    make, scripted = _clients(name, [api])
    with use_cassette(desk.CASSETTES / f"{name}.yaml", record=True, note=_cassette_note(scripted)):
        agent = desk.researcher(InMemoryStore())
        result, _ = desk.run_one_way(agent, way, desk.QUESTION, model=APIS[api], client=make(api, desk.is_async(way)))
    return result


def record_handoff() -> list[ExecutionResult]:
    """cassettes/runs/handoff.yaml: one thread, Chat (`run`) -> Anthropic (`stream`) -> Responses (`arun`)."""
    make, scripted = _clients("handoff", ["chat", "anthropic", "responses"])
    store: Store = InMemoryStore()
    results = []
    with use_cassette(desk.CASSETTES / "handoff.yaml", record=True, note=_cassette_note(scripted)):
        first, _ = desk.run_one_way(desk.researcher(store), "run", desk.QUESTION, model=APIS["chat"],
                                    client=make("chat", False))
        results.append(first)
        for factory, task, api, way in ((desk.budget_checker, desk.CONVERT, "anthropic", "stream"),
                                        (desk.note_writer, desk.WRITE_UP, "responses", "arun")):
            agent = factory(store)
            agent.add_task(task, thread_id=first.thread_id)
            result, _ = desk.run_one_way(agent, way, None, model=APIS[api], client=make(api, desk.is_async(way)))
            results.append(result)
    return results


def main() -> int:
    desk.CASSETTES.mkdir(parents=True, exist_ok=True)
    results = {f"{api}_{way}": [record_run(api, way)] for api in APIS for way in desk.WAYS}
    results["handoff"] = record_handoff()
    for name, outcome in results.items():
        summary = "; ".join(f"{r.status.value} after {r.steps} step(s): {str(r.result)[:60]}" for r in outcome)
        print(f"{name:20} {summary}")
    return 0 if all(r.ok for outcome in results.values() for r in outcome) else 1


if __name__ == "__main__":
    sys.exit(main())
