"""Who holds a claim on an execution: a process, named so that any process on the same host can tell
whether it is still alive.

An owner is `HOST:PID:START:TAG`: the host name (with the pid namespace's id where there is one:
containers on one machine that share a host name have pids of their own), the process id, the
process's start time (field 22 of `/proc/PID/stat`, in clock ticks since boot; empty where there is
no `/proc`), and a tag that tells the holders of one process apart (an agent id). The start time
survives pid reuse: a new process that got a dead one's pid started later. On the claim's own host a
dead holder's claim is void at once, whoever asks; on another host nothing can be checked, and the
claim's lease decides. Owners in any other shape (written by older versions) are never taken for dead.

This module never writes anything; it only reads `/proc` (or signals a pid with 0 where there is none).
`fenced` is the check every store runs before an owner's write.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..errors import ExecutionClaimedError
from ..loop import Execution, ExecutionStatus

__all__ = ["claim_is_live", "fenced", "owner_is_gone", "process_owner"]

_PROC = Path("/proc")


def process_owner(tag: str) -> str:
    """The owner string for a holder in this process (call it in the process that holds the claim:
    a forked child has a pid and start time of its own)."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_time(pid) or ''}:{tag}"


def claim_is_live(holder: str | None, until: float | None, *, asker: str, now: float) -> bool:
    """Whether `holder`'s claim keeps `asker` out: another owner's, unexpired, and not known to be dead."""
    return holder is not None and holder != asker and (until or 0.0) > now and not owner_is_gone(holder)


def fenced(execution: Execution, owner: str, *, holder: str | None, until: float | None,
           stored: ExecutionStatus, now: float) -> None:
    """Refuse `owner`'s write of `execution` (`ExecutionClaimedError`) when another owner holds a live
    claim on it, or when it was ended by someone else (it is stored ended, in another status): the
    writer lost the execution and must stop."""
    if claim_is_live(holder, until, asker=owner, now=now):
        raise ExecutionClaimedError(f"execution {execution.id} is held by {holder}; this writer lost its claim, "
                                    "so it must stop", execution_id=execution.id)
    if stored.is_terminal and execution.status is not stored:
        raise ExecutionClaimedError(f"execution {execution.id} was ended ({stored.value}) by another process; this "
                                    "writer must stop", execution_id=execution.id)


def owner_is_gone(owner: str) -> bool:
    """True when `owner` names a process on this host that no longer runs (its pid is free, a zombie,
    or taken by a process that started later). False when it lives, or when it cannot be told."""
    parts = owner.split(":", 3)
    if len(parts) != 4 or not parts[1].isdigit() or parts[0] != _host():
        return False
    pid, started = int(parts[1]), parts[2]
    if _PROC.is_dir():
        now_started = _start_time(pid)
        return now_started is None or (started != "" and now_started not in ("", started))
    if os.name == "nt":  # signal 0 is CTRL_C_EVENT there: nothing to probe with, so the lease decides
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: it exists
        return False
    return False


def _host() -> str:
    """This host as owners name it: the host name, then `/` and the pid namespace's inode number where
    `/proc` shows one (the pids of another namespace cannot be checked from this one)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}/{namespace.strip('pid:[]')}"


def _start_time(pid: int) -> str | None:
    """The process's start time from `/proc/PID/stat`; None when it is gone or a zombie, "" without `/proc`."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return None if _PROC.is_dir() else ""
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces or ")": split after the last ")".
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return fields[19] if len(fields) > 19 else ""
