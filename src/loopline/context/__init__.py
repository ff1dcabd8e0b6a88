"""The context layer: what loopline knows about models, token counting, and fitting a conversation
into a model's context window.

`model_profile` finds a model's facts (window, prices per token kind, tokenizer, request overheads) in
one table by one name rule, so its window, its count and its cost always describe the same family.
`TokenCounter` counts messages (cached by message id, so a growing thread is counted once), tools
and system prompts for a model; `ContextFitter` decides, before each request, what of the
conversation the request carries: all of it while it fits the window minus a reply reserve, else
the task message and the newest turns, with long tool outputs cut short, never separating a tool
call from its result. Builds on `loopline.messages`, `loopline.tools` and `loopline.providers`
(for the provider names in model names); never changes a stored thread, only what one request carries.
"""

from ._counter import CUT_MARKER, IMAGE_TOKENS, TokenCounter
from ._encoding import ApproximateTokenCountWarning
from ._fitter import ContextFitter
from ._plan import NOTE
from ._policy import ContextPolicy, Fitted, WindowView
from ._profiles import (
    ModelProfile,
    Price,
    context_window,
    encoding_for,
    model_profile,
    model_profiles,
    set_context_window,
    set_model_profile,
)

__all__ = [
    "ApproximateTokenCountWarning",
    "CUT_MARKER",
    "ContextFitter",
    "ContextPolicy",
    "Fitted",
    "IMAGE_TOKENS",
    "ModelProfile",
    "NOTE",
    "Price",
    "TokenCounter",
    "WindowView",
    "context_window",
    "encoding_for",
    "model_profile",
    "model_profiles",
    "set_context_window",
    "set_model_profile",
]
