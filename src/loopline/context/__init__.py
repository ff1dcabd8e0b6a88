"""The context layer: token counting and fitting a conversation into a model's context window.

Builds on `loopline.messages` and `loopline.tools`; never changes a stored thread, only what one
request carries.
"""

__all__: list[str] = []
