"""Parts: the pieces a message is made of, as pure frozen values tagged with a `kind`.

No vendor format lives here. What a provider needs to get back verbatim for a lossless round trip to
itself (item ids, signatures, encrypted reasoning) rides in `provider_details`, keyed by nothing
loopline interprets outside that provider's adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = [
    "FilePart",
    "OpaquePart",
    "Part",
    "ReasoningPart",
    "RefusalPart",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
]



@dataclass(frozen=True, slots=True, kw_only=True)
class TextPart:
    """Plain text from any role."""

    text: str
    """The text itself."""
    provider_details: dict[str, Any] | None = None
    """Provider-private data needed to send this part back to the same provider unchanged."""
    kind: Literal["text"] = "text"
    """Discriminator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallPart:
    """The model asks for a tool to be run."""

    id: str
    """The call id; the matching `ToolResultPart.tool_call_id` carries the same value."""
    name: str
    """The tool's name as offered to the model."""
    arguments: str
    """The arguments exactly as the model wrote them (usually a JSON object; free text for custom tools)."""
    tool_type: Literal["function", "custom"] = "function"
    """`function` for JSON-argument tools, `custom` for free-form-input tools."""
    provider_details: dict[str, Any] | None = None
    """Provider-private data (for example a Responses item id) needed for a lossless round trip."""
    kind: Literal["tool_call"] = "tool_call"
    """Discriminator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultPart:
    """What running a tool call produced, as the model will read it."""

    tool_call_id: str
    """The id of the `ToolCallPart` this answers."""
    name: str
    """The name of the tool that was called (some providers want it; all readers like it)."""
    content: str
    """The result rendered as text for the model."""
    is_error: bool = False
    """True when the call failed (unknown tool, bad arguments, the tool raised or timed out)."""
    files: tuple[FilePart, ...] | None = None
    """Images (or other files) the tool returned beside its text, sent in the tool result where the
    provider's API takes them there; `None` when there are none (so stored results keep their shape)."""
    provider_details: dict[str, Any] | None = None
    """Provider-private data needed for a lossless round trip."""
    kind: Literal["tool_result"] = "tool_result"
    """Discriminator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningPart:
    """Reasoning (thinking) the model showed or handed back in opaque form.

    Only the provider that wrote it can read it back; other providers' renderings drop it and say so.
    """

    text: str = ""
    """Readable reasoning text or summary, empty when the provider sent only an opaque form."""
    provider: str | None = None
    """Which wire API produced it (an `LLMProvider` value); renderers for others drop it."""
    signature: str | None = None
    """A signature the provider requires to accept the reasoning back."""
    redacted: bool = False
    """True when the content is encrypted or redacted and only `provider_details` carry it."""
    provider_details: dict[str, Any] | None = None
    """Opaque provider data (encrypted content, item ids) sent back verbatim."""
    kind: Literal["reasoning"] = "reasoning"
    """Discriminator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FilePart:
    """A file or image attached to a message, inline (base64) or by URL."""

    media_type: str
    """MIME type, such as `image/png` or `application/pdf`."""
    data: str | None = None
    """Base64-encoded content, when inline."""
    url: str | None = None
    """Where the content can be fetched, when not inline."""
    filename: str | None = None
    """The file's name, when known."""
    provider_details: dict[str, Any] | None = None
    """Provider-private data (for example an uploaded file id)."""
    kind: Literal["file"] = "file"
    """Discriminator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalPart:
    """The model declined to answer; `text` is its explanation."""

    text: str
    """The refusal as the model worded it."""
    provider_details: dict[str, Any] | None = None
    """Provider-private data needed for a lossless round trip."""
    kind: Literal["refusal"] = "refusal"
    """Discriminator."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OpaquePart:
    """Content only one provider understands (server-side tool blocks, search results, ...).

    Kept verbatim so the provider that wrote it gets it back unchanged; renderings for other
    providers drop it and say so.
    """

    provider: str
    """The wire API (an `LLMProvider` value) that produced it."""
    data: dict[str, Any]
    """The provider's block or item, exactly as received."""
    kind: Literal["opaque"] = "opaque"
    """Discriminator."""


Part: TypeAlias = TextPart | ToolCallPart | ToolResultPart | ReasoningPart | FilePart | RefusalPart | OpaquePart
"""Any part; match on `kind` (or the class) and end with `assert_never`."""
