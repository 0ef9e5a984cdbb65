"""Runs `policylang ...` with a fault injected for tests/test_service_crash.py: the process
kills itself (SIGKILL) right after its Nth write transaction commits, before the answer is
sent -- the window in which a client cannot know whether its request was applied.

    POLICYLANG_TEST_KILL_AFTER_COMMIT=N python tests/service_kill_after_commit.py serve ...

Test code only: the service itself has no such switch."""

import os
import signal
import sys
from contextlib import contextmanager

from policylang.service import serve, store

N = int(os.environ["POLICYLANG_TEST_KILL_AFTER_COMMIT"])
_open = store.open_store


def _open_with_fault(url, pool_size=8):
    opened = _open(url, pool_size)
    write, count = opened.write, [0]

    @contextmanager
    def write_then_die(policy, psns):
        with write(policy, psns) as tx:
            yield tx
        count[0] += 1  # committed
        if count[0] == N:
            os.kill(os.getpid(), signal.SIGKILL)

    opened.write = write_then_die
    return opened


serve.open_store = _open_with_fault

if __name__ == "__main__":
    from policylang.cli import main

    sys.argv[0] = "policylang"
    main()
