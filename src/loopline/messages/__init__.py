"""The conversation layer: provider-neutral messages, their parts, usage, and their JSON round trip.

This package owns the shape every thread stores. It must never import another loopline layer and
never hold a vendor's wire format: adapters in `loopline.providers` translate in both directions.
"""

from ._message import Message, Role, StopReason, Usage, new_id
from ._parts import FilePart, OpaquePart, Part, ReasoningPart, RefusalPart, TextPart, ToolCallPart, ToolResultPart
from ._serialize import (
    SCHEMA_VERSION,
    message_from_dict,
    message_from_json,
    message_to_dict,
    message_to_json,
    messages_from_json,
    messages_to_json,
)

__all__ = [
    "FilePart",
    "Message",
    "OpaquePart",
    "Part",
    "ReasoningPart",
    "RefusalPart",
    "Role",
    "SCHEMA_VERSION",
    "StopReason",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "Usage",
    "message_from_dict",
    "message_from_json",
    "message_to_dict",
    "message_to_json",
    "messages_from_json",
    "messages_to_json",
    "new_id",
]
