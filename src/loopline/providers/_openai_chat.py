"""The OpenAI Chat Completions adapter: tools, conversation and responses in both directions.

OpenAI-compatible servers speak the same format; their quirks belong in profiles of this adapter, not
in copies of it. This module must not import an SDK: it reads SDK objects through `model_dump`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from typing_extensions import assert_never

from ..errors import ProviderErrorResponse, ProviderMismatchError, ResponseParseError
from ..messages import (
    FilePart,
    Message,
    Part,
    ReasoningPart,
    RefusalPart,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from ..tools import ToolDefinition
from ._base import LLMProvider
from ._detect import CHAT_COMPLETION as _COMPLETION
from ._detect import ERROR_BODY as _ERROR_BODY
from ._detect import describe_format, to_plain

__all__ = ["OpenAIChatAdapter"]

_STOP_REASONS: dict[str, StopReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


class _ChatRenderer:
    """Incremental: keeps the wire dicts made so far and converts only messages appended since."""

    __slots__ = ("_adapter", "_done", "_ids", "_out")

    def __init__(self, adapter: OpenAIChatAdapter) -> None:
        self._adapter = adapter
        self._out: list[dict[str, Any]] = []
        self._done = 0
        self._ids: list[str] = []

    def render(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        if len(messages) < self._done or (self._done and messages[self._done - 1].id != self._ids[-1]):
            self._out, self._done, self._ids = [], 0, []  # not an append of what we saw: start over
        for message in messages[self._done:]:
            self._out.extend(self._adapter.render_message(message))
            self._ids.append(message.id)
        self._done = len(messages)
        return list(self._out)


class OpenAIChatAdapter:
    """OpenAI Chat Completions (`POST /v1/chat/completions`)."""

    provider = LLMProvider.OPEN_AI
    name = "OpenAI Chat Completions"

    def __init__(self) -> None:
        self._last: tuple[Any, tuple[Message, ...]] | None = None

    # --- requests ---------------------------------------------------------------------------------

    def render_tools(self, tools: Sequence[ToolDefinition]) -> list[dict[str, Any]]:
        return [self._render_tool(t) for t in tools]

    def _render_tool(self, tool: ToolDefinition) -> dict[str, Any]:
        if tool.tool_type == "custom":
            custom: dict[str, Any] = {"name": tool.name, "description": tool.description}
            fmt = (tool.provider_details or {}).get("format")
            if fmt is not None:
                custom["format"] = fmt
            return {"type": "custom", "custom": custom}
        function: dict[str, Any] = {"name": tool.name, "description": tool.description,
                                    "parameters": tool.parameters}
        if tool.strict:
            function["strict"] = True
        return {"type": "function", "function": function}

    def renderer(self) -> _ChatRenderer:
        return _ChatRenderer(self)

    def request_kwargs(self, *, system: str | None, messages: list[dict[str, Any]],
                       tools: list[dict[str, Any]]) -> dict[str, Any]:
        head = [{"role": "system", "content": system}] if system else []
        kwargs: dict[str, Any] = {"messages": head + messages}
        if tools:
            kwargs["tools"] = tools
        return kwargs

    def render_message(self, message: Message) -> list[dict[str, Any]]:
        """The wire message(s) for one neutral message (tool results become one message each)."""
        match message.role:
            case "tool":
                return [self._render_result(p) for p in message.tool_results]
            case "assistant":
                return [self._render_assistant(message)]
            case "user" | "system":
                return [{"role": message.role, "content": self._render_content(message)}]
            case _:
                assert_never(message.role)

    def _render_result(self, part: ToolResultPart) -> dict[str, Any]:
        return {"role": "tool", "tool_call_id": part.tool_call_id, "content": part.content}

    def _render_assistant(self, message: Message) -> dict[str, Any]:
        out: dict[str, Any] = {"role": "assistant"}
        text = message.text
        calls = message.tool_calls
        if text or not calls:
            out["content"] = text
        refusal = message.refusal
        if refusal is not None:
            out["refusal"] = refusal
        if calls:
            out["tool_calls"] = [self._render_call(c) for c in calls]
        return out

    def _render_call(self, call: ToolCallPart) -> dict[str, Any]:
        if call.tool_type == "custom":
            return {"id": call.id, "type": "custom", "custom": {"name": call.name, "input": call.arguments}}
        return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}

    def _render_content(self, message: Message) -> str | list[dict[str, Any]]:
        parts = message.parts
        if all(isinstance(p, TextPart) for p in parts):
            return message.text
        return [block for p in parts for block in self._render_user_part(p)]

    def _render_user_part(self, part: Part) -> list[dict[str, Any]]:
        match part:
            case TextPart():
                return [{"type": "text", "text": part.text}]
            case FilePart():
                return [_render_file(part)]
            case ReasoningPart() | RefusalPart() | ToolCallPart() | ToolResultPart():
                return []  # not expressible in a user message; nothing of the user's is in these kinds
            case _:
                assert_never(part)

    # --- responses --------------------------------------------------------------------------------

    def parse(self, response: Any) -> list[Message]:
        # The manual loop hands the same SDK response to add_messages and extract_tool_calls: parse it
        # once. Only SDK objects are remembered (by identity): a dict or list may be refilled in place
        # and passed again, so those are always parsed anew. Messages are immutable, sharing is safe.
        last = self._last
        if last is not None and last[0] is response:
            return list(last[1])
        parsed = self._parse(response)
        if not isinstance(response, (dict, list)):
            self._last = (response, tuple(parsed))
        return parsed

    def _parse(self, response: Any) -> list[Message]:
        data = to_plain(response)
        if isinstance(data, list):
            return [self._parse_list_item(m, i) for i, m in enumerate(data)]
        if not isinstance(data, dict):
            raise ResponseParseError(
                f"expected a ChatCompletion (SDK object or dict) or a list of message dicts, "
                f"got {type(response).__name__}", provider=self.provider.value)
        detected = describe_format(data)
        if detected == _COMPLETION:
            return [self._parse_completion(data)]
        if detected == _ERROR_BODY:
            raise _error_response(data, self.provider.value)
        if detected is None and "role" in data:
            return [self.parse_wire_message(data)]
        raise ProviderMismatchError(
            f"expected an OpenAI Chat Completions response, got {detected or 'an unrecognised dict'}"
            + ("; use the llm_provider that matches it" if detected else f" with keys {sorted(data)[:8]}"),
            expected=self.provider.value, detected=detected)

    def _parse_list_item(self, item: Any, index: int) -> Message:
        data = _as_message_dict(item)
        if "role" not in data:
            what = describe_format(data) or f"a dict with keys {sorted(data)[:8]}"
            raise ResponseParseError(
                f"item {index} of the list is {what}, not a Chat Completions message dict; pass the response "
                "object itself (for a stream, the final completion it assembles)",
                provider=self.provider.value, field=f"[{index}]")
        return self.parse_wire_message(data)

    def _parse_completion(self, data: dict[str, Any]) -> Message:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ResponseParseError("the response has no choices", provider=self.provider.value, field="choices")
        choice = min(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise ResponseParseError("choices[0] has no message object", provider=self.provider.value,
                                     field="choices[0].message")
        raw_reason = choice.get("finish_reason")
        message = self.parse_wire_message(choice["message"], response_id=data.get("id"))
        stop: StopReason | None = _STOP_REASONS.get(raw_reason, "other") if raw_reason else None
        if message.refusal is not None and not message.tool_calls:
            stop = "refusal"
        details = {k: data[k] for k in ("id", "system_fingerprint", "service_tier") if data.get(k)}
        return Message(role="assistant", parts=message.parts, provider=self.provider.value,
                       model=data.get("model"), usage=_usage(data.get("usage")), stop_reason=stop,
                       raw_stop_reason=raw_reason, provider_details=details or None)

    def parse_wire_message(self, data: dict[str, Any], *, response_id: str | None = None) -> Message:
        """A neutral message from one Chat Completions message dict (any role)."""
        role = data.get("role")
        if role == "tool":
            part = ToolResultPart(tool_call_id=_required_str(data, "tool_call_id", self.provider.value),
                                  name=str(data.get("name") or ""), content=_content_text(data.get("content")))
            return Message(role="tool", parts=(part,))
        if role in ("user", "system", "developer"):
            parts = _content_parts(data.get("content"))
            return Message(role="system" if role == "developer" else role, parts=parts)
        if role == "assistant":
            return Message(role="assistant", parts=self._assistant_parts(data, response_id),
                           provider=self.provider.value)
        raise ResponseParseError(f"unknown message role {role!r}", provider=self.provider.value, field="role")

    def _assistant_parts(self, data: dict[str, Any], response_id: str | None) -> tuple[Part, ...]:
        parts: list[Part] = []
        reasoning = data.get("reasoning_content") or data.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            parts.append(ReasoningPart(text=reasoning, provider=self.provider.value))
        content = data.get("content")
        if content:
            parts.extend(_content_parts(content))
        if data.get("refusal"):
            parts.append(RefusalPart(text=str(data["refusal"])))
        for index, call in enumerate(data.get("tool_calls") or []):
            parts.append(self._parse_call(call, index, response_id))
        return tuple(parts)

    def _parse_call(self, call: Any, index: int, response_id: str | None) -> ToolCallPart:
        where = f"tool_calls[{index}]"
        if not isinstance(call, dict):
            raise ResponseParseError(f"{where} is not an object", provider=self.provider.value, field=where)
        kind = call.get("type") or "function"
        body = call.get(kind)
        if kind not in ("function", "custom") or not isinstance(body, dict) or not body.get("name"):
            raise ResponseParseError(f"{where} has no {kind!r} object with a name", provider=self.provider.value,
                                     field=where)
        raw = body.get("arguments" if kind == "function" else "input")
        if raw is None:
            raw = ""
        elif not isinstance(raw, str):  # some compatible servers send a parsed object
            raw = _json_dumps(raw)
        call_id = call.get("id") or _stable_call_id(response_id, index, body["name"], raw)
        return ToolCallPart(id=str(call_id), name=str(body["name"]), arguments=raw,
                            tool_type="custom" if kind == "custom" else "function")


def _render_file(part: FilePart) -> dict[str, Any]:
    url = part.url or f"data:{part.media_type};base64,{part.data or ''}"
    if part.media_type.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": url}}
    if part.media_type.startswith("audio/") and part.data:
        return {"type": "input_audio", "input_audio": {"data": part.data, "format": part.media_type.split("/")[1]}}
    file: dict[str, Any] = {"file_data": url}
    if part.filename:
        file["filename"] = part.filename
    return {"type": "file", "file": file}


def _content_parts(content: Any) -> tuple[Part, ...]:
    if content is None:
        return ()
    if isinstance(content, str):
        return (TextPart(text=content),)
    parts: list[Part] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(TextPart(text=str(block.get("text", ""))))
        elif kind == "refusal":
            parts.append(RefusalPart(text=str(block.get("refusal", ""))))
        elif kind == "image_url":
            parts.append(_file_from_url(str(block["image_url"]["url"]), "image/*"))
        elif kind == "file":
            file = block.get("file", {})
            part = _file_from_url(str(file.get("file_data", "")), "application/octet-stream")
            parts.append(FilePart(media_type=part.media_type, data=part.data, url=part.url,
                                  filename=file.get("filename")))
        else:
            raise ResponseParseError(f"unsupported content block type {kind!r}", provider="openai",
                                     field="content")
    return tuple(parts)


def _file_from_url(url: str, fallback_type: str) -> FilePart:
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return FilePart(media_type=head or fallback_type, data=data)
    return FilePart(media_type=fallback_type, url=url)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    return "".join(p.text for p in _content_parts(content) if isinstance(p, TextPart))


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    prompt = data.get("prompt_tokens_details") or {}
    completion = data.get("completion_tokens_details") or {}
    return Usage(input_tokens=int(data.get("prompt_tokens") or 0),
                 output_tokens=int(data.get("completion_tokens") or 0),
                 cached_tokens=int(prompt.get("cached_tokens") or 0),
                 reasoning_tokens=int(completion.get("reasoning_tokens") or 0),
                 requests=1)


def _stable_call_id(response_id: str | None, index: int, name: str, arguments: str) -> str:
    """Some compatible servers omit call ids; make one that is the same every time for the same call."""
    digest = hashlib.sha256(f"{response_id}|{index}|{name}|{arguments}".encode()).hexdigest()[:24]
    return f"call_{digest}"


def _required_str(data: dict[str, Any], key: str, provider: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ResponseParseError(f"message has no {key!r}", provider=provider, field=key)
    return value


def _as_message_dict(item: Any) -> dict[str, Any]:
    data = to_plain(item)
    if not isinstance(data, dict):
        raise ResponseParseError(f"expected a message dict, got {type(item).__name__}", provider="openai")
    return data


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _error_response(data: dict[str, Any], provider: str) -> ProviderErrorResponse:
    error = data.get("error")
    info = error if isinstance(error, dict) else {"message": str(error)}
    return ProviderErrorResponse(
        f"the provider returned an error instead of a response: {info.get('message') or info}",
        provider=provider, error_type=info.get("type"), code=info.get("code"), body=data)
