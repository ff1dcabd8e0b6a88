"""Append numbered messages to one thread, one append per message (for the multi-process test).

    python append_worker.py STORE_LOCATION THREAD_ID TAG COUNT
"""

from __future__ import annotations

import sys

from loopline import Message
from loopline.store import open_store


def main() -> None:
    location, thread_id, tag, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = open_store(location)
    for i in range(count):
        store.append_messages(thread_id, [Message.user(f"{tag}:{i}")])
    store.close()


if __name__ == "__main__":
    main()
