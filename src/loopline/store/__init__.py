"""The store layer: threads (ordered, append-only neutral messages) and executions.

A small protocol with an in-memory implementation; durable backends implement the same protocol.
Builds on `loopline.messages` and `loopline.loop`; knows nothing of agents or providers.
"""

from ._memory import InMemoryStore, default_store
from ._protocol import Store

__all__ = ["InMemoryStore", "Store", "default_store"]
