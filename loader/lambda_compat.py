"""dbt inside AWS Lambda.

Lambda has no ``/dev/shm``, so ``multiprocessing`` locks (POSIX semaphores) raise ``OSError``
(dbt-core issue 2992). dbt only uses them between the threads of one process, where threading locks
are equivalent: this swaps dbt's multiprocessing context for one handing out threading locks. It must
run before dbt's other modules are imported, and is harmless anywhere else.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any


class _ThreadLockContext:
    """A stand-in for dbt's ``SpawnContext`` whose locks are threading locks."""

    Lock = staticmethod(threading.Lock)
    RLock = staticmethod(threading.RLock)

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing.get_context("spawn"), name)


def make_dbt_lambda_safe() -> None:
    import dbt.mp_context

    if not isinstance(dbt.mp_context._MP_CONTEXT, _ThreadLockContext):
        dbt.mp_context._MP_CONTEXT = _ThreadLockContext()  # type: ignore[assignment]
