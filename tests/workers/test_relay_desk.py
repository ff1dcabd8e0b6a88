"""The relay's desk keeps one entry per task it holds. A task the relay handed back to the engine may come
back to the same relay as a new run while the old run is still leaving the desk: the old run must not
take the new one's entry with it (the new run would then wait forever, its task PENDING)."""

from __future__ import annotations

import asyncio
from typing import Any

from loopline.workers._relay import _Desk


def test_a_run_leaving_the_desk_leaves_a_new_run_of_its_task_in_place() -> None:
    async def main() -> tuple[Any, Any, bool]:
        desk = _Desk(relay=None)  # type: ignore[arg-type]  # no pass runs: the test settles the futures
        record = {"id": "task_1", "agent_id": "a", "created_at": 1.0}
        old = asyncio.create_task(desk.assignment(record))
        await asyncio.sleep(0)
        first = desk._waiting["task_1"]
        new = asyncio.create_task(desk.assignment(record))  # the task's next run, taken by the relay again
        await asyncio.sleep(0)
        second = desk._waiting["task_1"]
        first.future.set_result("\0handed back")
        await old
        still = desk._waiting.get("task_1") is second
        second.future.set_result(None)
        await new
        return first, second, still and "task_1" not in desk._waiting

    first, second, kept_then_left = asyncio.run(main())
    assert first is not second and kept_then_left
