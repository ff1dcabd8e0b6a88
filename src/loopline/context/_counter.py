"""Counting the tokens of messages, tools and system prompts, from the neutral conversation.

Why the neutral form and not each provider's rendering: a thread is one list of neutral messages
rendered for whichever provider asks, so a count per message (cached by `message.id`, messages being
immutable) serves every provider, and counting never has to render. What a model reads of a message
is its text (text, tool names and arguments, results, reasoning, refusals); the JSON keys and
punctuation of a wire format are not shown to the model as such (providers turn them into a few
special tokens), so they are charged as a fixed overhead per message, call and result
(`ModelProfile`) rather than counted as text. Checked against recorded traffic (the wire corpus),
the estimate of an OpenAI Chat Completions request lands within a few tokens of the usage the API
reported. A rendering may drop parts (reasoning written by another provider); those are still
counted, which errs toward fitting.

Images and files are estimated: an image costs 1,600 tokens (Anthropic bills an image of at most
1.15 megapixels about width*height/750, at most ~1,600; OpenAI's high detail tops out near 1,100),
other inline files a token per 4 bytes of their content (at least 1,600), files by URL or id 1,600.
Encrypted or redacted reasoning is estimated from the size of the provider data that carries it, a
token per 8 bytes (ciphertext in base64 holds far less text than its size: a recorded Responses
reasoning item of 1,252 base64 characters was billed about 60 tokens, so this errs toward fitting).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

from typing_extensions import assert_never

from ..messages import FilePart, Message, OpaquePart, ReasoningPart, RefusalPart, TextPart, ToolCallPart, ToolResultPart
from ..tools import ToolDefinition
from ._encoding import Encoder, get_encoder
from ._profiles import ModelProfile, model_profile
from ._tools_text import tools_as_json, tools_as_typescript

__all__ = ["CUT_MARKER", "IMAGE_TOKENS", "TokenCounter"]

IMAGE_TOKENS = 1600
"""The estimate for one image, and the least for any file."""
CUT_MARKER = "\n[... {cut} tokens cut from the middle of this tool output to fit the context window ...]\n"
"""What replaces the middle of a tool output that was cut; `{cut}` is the number of tokens left out."""
_MARKER_ALLOWANCE = 32  # tokens kept free for the marker (it takes about 20) and merges at the cuts
_CACHE_SIZE = 200_000  # message counts kept per counter; ~20 MB at most


class _Lru(OrderedDict[str, int]):
    """A bounded mapping: the oldest entries go first when it is full."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: str, value: int) -> None:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)


class TokenCounter:
    """Counts tokens for one model (or one encoding); message counts are cached by message id.

    Args:
        model: The model the requests go to (`gpt-4o`, `anthropic:claude-sonnet-4-5`, ...). It picks
            the encoding, the per-message overheads and, for models whose tokenizer is not public,
            the safety factor `scale`. `None` counts with o200k_base and OpenAI's overheads.
        encoding: A tiktoken encoding name that overrides the model's (`o200k_base`, `cl100k_base`).

    A counter may be shared by threads; at worst two of them count the same new message once each.

    Raises:
        ValueError: `encoding` is not a tiktoken encoding name.
    """

    def __init__(self, model: str | None = None, *, encoding: str | None = None) -> None:
        if model is not None and (not isinstance(model, str) or not model.strip()):
            raise ValueError(f"model must be a non-empty string or None, got {model!r}")
        if encoding is not None and not isinstance(encoding, str):
            raise ValueError(f"encoding must be a tiktoken encoding name, got {encoding!r}")
        self.model = model
        """The model this counter counts for, as given."""
        self.profile: ModelProfile = model_profile(model)
        """The overheads and safety factor used for this model."""
        self.encoding_name: str = encoding or self.profile.encoding
        """The tiktoken encoding that counts the text."""
        self._encoder: Encoder = get_encoder(self.encoding_name)
        self._messages = _Lru(_CACHE_SIZE)
        self._other = _Lru(64)  # tool lists and system prompts: few, and the same every step
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"TokenCounter(model={self.model!r}, encoding={self.encoding_name!r}, exact={self.exact})"

    @property
    def exact(self) -> bool:
        """Whether text counts are the real tokenizer's: the model's own, or the encoding asked for
        when no model was given. False when the tokenizer data was not available (counts are then
        estimated from length), when the model's tokenizer is not public (o200k_base stands in for
        it, scaled), or when an encoding other than the model's was asked for."""
        if not self._encoder.exact:
            return False
        return self.model is None or (self.profile.native and self.encoding_name == self.profile.encoding)

    @property
    def scale(self) -> float:
        """The safety factor counts are multiplied by: 1.0 for OpenAI models, 1.25 for others.

        Claude's tokenizer is not public, and it and most open models' tokenizers (Llama, Qwen,
        Mistral, Gemini) have smaller or differently trained vocabularies that tend to need more
        tokens than o200k_base for the same text, code and JSON especially. Scaling by 1.25 makes
        the estimate err toward fitting the window rather than overflowing it; on the recorded
        Anthropic requests the estimates came out between 0.6 and 1.9 times the billed input
        (the misses below 1 are under 60 tokens).
        """
        return self.profile.scale

    @property
    def request_overhead(self) -> int:
        """Tokens every request costs once, beyond its messages, system prompt and tools."""
        return self.profile.request_overhead

    def _scaled(self, raw: int | float) -> int:
        return math.ceil(raw * self.profile.scale) if self.profile.scale != 1.0 else math.ceil(raw)

    def count_text(self, text: str) -> int:
        """Tokens of plain text (tiktoken's count exactly, for OpenAI models; scaled for others)."""
        if not isinstance(text, str):
            raise TypeError(f"count_text takes a str, got {type(text).__name__}")
        return self._scaled(self._encoder.count(text))

    def count_system(self, text: str | None) -> int:
        """Tokens of a system prompt sent with a request (0 for none)."""
        if not text:
            return 0
        key = "s:" + text
        with self._lock:
            found = self._other.get(key)
        if found is None:
            found = self._scaled(self._encoder.count(text)) + self.profile.message_overhead
            with self._lock:
                self._other.put(key, found)
        return found

    def count_tools(self, tools: Sequence[ToolDefinition]) -> int:
        """Tokens the tool definitions of a request cost (0 for none), as the model reads them."""
        if not tools:
            return 0
        text = tools_as_typescript(tools) if self.profile.tools_format == "typescript" else tools_as_json(tools)
        key = "t:" + text
        with self._lock:
            found = self._other.get(key)
        if found is None:
            overhead = self.profile.tool_overhead * len(tools) + self.profile.tools_overhead
            found = self._scaled(self._encoder.count(text)) + overhead
            with self._lock:
                self._other.put(key, found)
        return found

    def count_message(self, message: Message) -> int:
        """Tokens of one message in a request; counted once per message id, then looked up."""
        with self._lock:
            found = self._messages.get(message.id)
        if found is not None:
            return found
        found = self._measure(message)
        with self._lock:
            self._messages.put(message.id, found)
        return found

    def count_messages(self, messages: Iterable[Message]) -> int:
        """The sum of `count_message` over `messages`."""
        return sum(self.count_message(m) for m in messages)

    def _measure(self, message: Message) -> int:
        texts: list[str] = []
        extra = self.profile.message_overhead
        for part in message.parts:
            match part:
                case TextPart() | RefusalPart():
                    texts.append(part.text)
                case ToolCallPart():
                    texts += (part.name, part.arguments)
                    extra += self.profile.call_overhead
                case ToolResultPart():
                    texts.append(part.content)
                    extra += self.profile.result_overhead + sum(_file_estimate(f) for f in part.files or ())
                case ReasoningPart():
                    texts.append(part.text)
                    if part.redacted:
                        extra += _bytes_estimate(part.provider_details)
                case FilePart():
                    extra += _file_estimate(part)
                case OpaquePart():
                    texts.append(json.dumps(part.data, ensure_ascii=False, separators=(",", ":"), default=str))
                case _:
                    assert_never(part)
        joined = "\n".join(t for t in texts if t)  # one encoder call a message
        return (self._scaled(self._encoder.count(joined)) if joined else 0) + extra

    def shorten(self, text: str, max_tokens: int) -> tuple[str, int] | None:
        """`text` cut to at most `max_tokens` (as this counter counts): a head and a tail joined by
        `CUT_MARKER`, and the number of tokens cut; `None` when it is not longer than that."""
        if self.count_text(text) <= max_tokens:
            return None
        keep = max(0, math.floor(max_tokens / self.profile.scale) - _MARKER_ALLOWANCE)
        head, tail, cut = self._encoder.cut_middle(text, keep)
        return head + CUT_MARKER.format(cut=f"{self._scaled(cut):,}") + tail, self._scaled(cut)


def _bytes_estimate(details: dict[str, Any] | None) -> int:
    """Tokens for opaque provider data (encrypted reasoning): a token per 8 bytes of its JSON."""
    if not details:
        return 0
    return math.ceil(len(json.dumps(details, separators=(",", ":"), default=str)) / 8)


def _file_estimate(part: FilePart) -> int:
    if part.media_type.startswith("image/") or part.data is None:
        return IMAGE_TOKENS
    return max(IMAGE_TOKENS, math.ceil(len(part.data) * 3 / 4 / 4))  # base64: 4 characters hold 3 bytes
