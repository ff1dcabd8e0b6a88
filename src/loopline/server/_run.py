"""Running the application under uvicorn, so that stopping is prompt even with event streams open.

uvicorn stops gracefully: it waits for every open connection to end, and an event stream that follows
a task never ends by itself, so one open dashboard would hold a stopping server forever. Here the stop
signal also sets `ServerState.stopping`, which ends every stream within a poll; its client reconnects
(with `Last-Event-ID`) to another server process and misses nothing.
"""

from __future__ import annotations

from types import FrameType

from ..errors import MissingExtraError
from ..store import Store
from ._state import ServerSettings

__all__ = ["run"]

GRACE_SECONDS = 5
"""How long requests still running may take once the server stops."""


def run(settings: ServerSettings, *, host: str, port: int, store: Store | None = None) -> None:
    """Serve until SIGINT or SIGTERM (blocking)."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingExtraError(package="uvicorn", extra="server") from exc
    from ._app import build_app

    app = build_app(settings, store=store)
    stopping = app.state.loopline.stopping

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            stopping.set()
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=GRACE_SECONDS)
    _Server(config).run()
