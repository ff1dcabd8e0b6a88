"""What each provider API requires of a request's conversation, as checks a test can run.

Written from the APIs' documented rules and the recorded traffic in tests/wire, independently of
loopline's renderers: a rendering that passes here is one the provider accepts. Each checker returns
the list of violations (empty when the request is valid), so a failing test shows all of them.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["anthropic_violations", "chat_violations", "responses_violations"]

_ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def chat_violations(kwargs: dict[str, Any]) -> list[str]:
    """Chat Completions: every assistant tool call is answered by a tool message right after it."""
    problems: list[str] = []
    messages = kwargs["messages"]
    open_calls: list[str] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            problems.append(f"[{i}] unknown role {role!r}")
        if role == "tool":
            if m.get("tool_call_id") not in open_calls:
                problems.append(f"[{i}] tool message answers {m.get('tool_call_id')!r}, which no open call has")
            else:
                open_calls.remove(m["tool_call_id"])
            continue
        if open_calls:
            problems.append(f"[{i}] {role} message while calls {open_calls} have no tool message yet")
            open_calls = []
        if role == "assistant":
            calls = m.get("tool_calls") or []
            if not calls and not m.get("content") and not m.get("refusal"):
                problems.append(f"[{i}] empty assistant message")
            for c in calls:
                if not isinstance(c.get("id"), str) or not c["id"] or len(c["id"]) > 40:
                    problems.append(f"[{i}] tool call id {c.get('id')!r} is empty or over 40 characters")
                if c.get("type") == "function" and not isinstance(c["function"].get("arguments"), str):
                    problems.append(f"[{i}] function arguments must be a string")
                open_calls.append(c.get("id"))
        if "reasoning_content" in m or any(isinstance(b, dict) and b.get("type") in ("thinking", "reasoning")
                                           for b in m.get("content") or [] if not isinstance(m.get("content"), str)):
            problems.append(f"[{i}] reasoning sent in a Chat Completions message")
    if open_calls:
        problems.append(f"calls {open_calls} are never answered")
    return problems


def anthropic_violations(kwargs: dict[str, Any]) -> list[str]:
    """Anthropic Messages: alternating turns from the user, results of a turn first in the next user
    turn, no empty turns or text blocks, thinking only with a signature, ids of the allowed form."""
    problems: list[str] = []
    messages = kwargs["messages"]
    if "system" in kwargs and not isinstance(kwargs["system"], (str, list)):
        problems.append("system must be a string or a list of blocks")
    if any(m.get("role") == "system" for m in messages):
        problems.append("a system role inside messages")
    if messages and messages[0].get("role") != "user":
        problems.append("the first message is not from the user")
    expected: list[str] = []
    for i, m in enumerate(messages):
        problems += _anthropic_turn(i, m, messages[i - 1] if i else None, expected)
        expected = [b["id"] for b in m["content"] if isinstance(m.get("content"), list)
                    and b.get("type") == "tool_use"] if m.get("role") == "assistant" else []
    if expected:
        problems.append(f"tool_use {expected} in the last turn is never answered")
    ids = [b.get("id") for m in messages if isinstance(m.get("content"), list) for b in m["content"]
           if b.get("type") == "tool_use"]
    if len(ids) != len(set(ids)):
        problems.append(f"tool_use ids repeat: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    return problems


def _anthropic_turn(i: int, m: dict[str, Any], previous: dict[str, Any] | None, expected: list[str]) -> list[str]:
    problems: list[str] = []
    if previous is not None and previous.get("role") == m.get("role"):
        problems.append(f"[{i}] two {m.get('role')} turns in a row")
    content = m.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    if not blocks:
        problems.append(f"[{i}] empty content")
    results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
    if expected and results[: len(expected)] != expected and sorted(results) != sorted(expected):
        problems.append(f"[{i}] the results {results} do not answer the previous turn's tool_use {expected}")
    leading = [b.get("type") == "tool_result" for b in blocks]
    if results and leading != sorted(leading, reverse=True):
        problems.append(f"[{i}] tool_result blocks are not all before the other blocks")
    for b in blocks:
        problems += _anthropic_block(i, m.get("role"), b, expected)
    return problems


def _anthropic_block(i: int, role: Any, b: dict[str, Any], expected: list[str]) -> list[str]:
    kind = b.get("type")
    if kind == "text":
        return [] if isinstance(b.get("text"), str) and b["text"] else [f"[{i}] empty text block"]
    if kind == "tool_use":
        ok = role == "assistant" and _ANTHROPIC_ID.match(str(b.get("id"))) and isinstance(b.get("input"), dict)
        return [] if ok else [f"[{i}] bad tool_use {b}"]
    if kind == "tool_result":
        return [] if role == "user" and b.get("tool_use_id") in expected else [f"[{i}] tool_result for an unknown call"]
    if kind == "thinking":
        return [] if role == "assistant" and b.get("signature") else [f"[{i}] thinking without a signature"]
    if kind in ("redacted_thinking", "image", "document", "server_tool_use", "tool_search_tool_result"):
        return []
    return [f"[{i}] block type {kind!r} is not one Anthropic takes"]


def responses_violations(kwargs: dict[str, Any]) -> list[str]:
    """Responses API: every call item is answered by an output item with its call_id; reasoning items
    are Responses' own (an rs_ id); no Chat or Anthropic shapes inside."""
    problems: list[str] = []
    items = kwargs["input"]
    calls: dict[str, str] = {}
    answered: set[str] = set()
    for i, item in enumerate(items):
        kind = item.get("type", "message")
        if kind in ("function_call", "custom_tool_call"):
            if item["call_id"] in calls:
                problems.append(f"[{i}] call_id {item['call_id']!r} repeats")
            calls[item["call_id"]] = kind
            if kind == "function_call" and not isinstance(item.get("arguments"), str):
                problems.append(f"[{i}] function_call arguments must be a string")
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if calls.get(item.get("call_id")) != kind.removesuffix("_output"):
                problems.append(f"[{i}] {kind} for {item.get('call_id')!r}, which no earlier {kind[:-7]} has")
            answered.add(item.get("call_id"))
        elif kind == "reasoning":
            if not str(item.get("id", "")).startswith("rs_"):
                problems.append(f"[{i}] a reasoning item that did not come from the Responses API")
        elif kind == "message":
            if item.get("role") not in ("user", "assistant", "system", "developer"):
                problems.append(f"[{i}] message with role {item.get('role')!r}")
            if item.get("role") == "tool" or "tool_calls" in item or "tool_call_id" in item:
                problems.append(f"[{i}] a Chat Completions shape")
        else:
            problems.append(f"[{i}] unexpected item type {kind!r}")
    missing = sorted(set(calls) - answered)
    if missing:
        problems.append(f"calls {missing} are never answered")
    return problems
