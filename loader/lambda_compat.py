"""dbt inside AWS Lambda.

Lambda has no ``/dev/shm``, so ``multiprocessing`` locks (POSIX semaphores) raise ``OSError``
(dbt-core issue 2992). dbt only needs them between the threads of one process, where threading
primitives are equivalent. Two places create them: dbt's own multiprocessing context (adapter and
manifest locks), and ``multiprocessing.pool.ThreadPool`` (dbt's runner), whose constructor makes a
semaphore-backed queue only to wake its own threads. Both get threading equivalents here. Call this
before dbt's other modules are imported; it is harmless anywhere else.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import threading
from typing import Any


class _ThreadNotifier:
    """multiprocessing's SimpleQueue for one process: the same pipe (which ThreadPool's handler waits on),
    guarded by threading locks instead of a semaphore."""

    def __init__(self) -> None:
        self._reader, self._writer = multiprocessing.Pipe(duplex=False)
        self._read_lock, self._write_lock = threading.Lock(), threading.Lock()

    def put(self, item: Any) -> None:
        with self._write_lock:
            self._writer.send(item)

    def get(self) -> Any:
        with self._read_lock:
            return self._reader.recv()

    def empty(self) -> bool:
        return not self._reader.poll()

    def close(self) -> None:
        self._reader.close()
        self._writer.close()


class _ThreadLockContext:
    """A stand-in for dbt's ``SpawnContext`` whose locks are threading locks."""

    Lock = staticmethod(threading.Lock)
    RLock = staticmethod(threading.RLock)
    SimpleQueue = _ThreadNotifier

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing.get_context("spawn"), name)


def _thread_pool_init(self: Any, processes: int | None = None, initializer: Any = None, initargs: Any = ()) -> None:
    multiprocessing.pool.Pool.__init__(self, processes, initializer, initargs, context=_ThreadLockContext())


def make_dbt_lambda_safe() -> None:
    import dbt.mp_context

    if not isinstance(dbt.mp_context._MP_CONTEXT, _ThreadLockContext):
        dbt.mp_context._MP_CONTEXT = _ThreadLockContext()  # type: ignore[assignment]
    multiprocessing.pool.ThreadPool.__init__ = _thread_pool_init  # type: ignore[method-assign]
