"""Items made ahead of the one who sends them: on a background thread, or in a child process.

The produce run's sender (one thread) must never wait for generation, which takes a second or more per
block of the stream. Both prefetchers run an iterator `depth` items ahead and hand its items over in
order through `items(wait)`, which calls `wait` while the next one is not ready (the sender serves
delivery reports and stats meanwhile). A failure of the iterator is raised in the sender.

- `ThreadPrefetch` runs the iterator on a thread of this process. Generation then shares the GIL with
  the sending loop: the two add up on one core (bench/RESULTS.md), but nothing is copied.
- `ProcessPrefetch` runs `target(*args)` in a child process (spawned: the parent's librdkafka threads
  make forking unsafe) and receives its items pickled through a pipe. Generation then has a core of
  its own; the cost is the copy (a few hundred bytes a record) and a child that starts in ~0.5 s.
  The child stops when the parent closes the prefetch, and by itself if the parent dies (a SIGKILLed
  producer leaves nothing running). As with any spawned child, the parent's main module is imported
  again in the child: a script that uses it runs its work under `if __name__ == "__main__":`.

>>> with ThreadPrefetch(iter(range(3)), depth=2) as prefetch:
...     list(prefetch.items(wait=lambda: None))
[0, 1, 2]
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["PrefetchFailed", "ProcessPrefetch", "ThreadPrefetch"]


class PrefetchFailed(RuntimeError):
    """The child process's iterator raised; the message names the original exception."""


@dataclass(frozen=True)
class _End:
    """The iterator is exhausted (a class, not a sentinel object: it must survive pickling)."""


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _items(get: Callable[[float], Any], wait: Callable[[], None], poll_s: float) -> Iterator[Any]:
    """What both prefetchers hand over: items in order until `_End`, `wait` while none is ready."""
    while True:
        try:
            item = get(poll_s)
        except queue.Empty:
            wait()
            continue
        if isinstance(item, _End):
            return
        if isinstance(item, _Failed):
            raise item.error
        yield item


class ThreadPrefetch:
    """Runs an iterator on a background thread, `depth` items ahead. The iterator's waits for the GIL
    are the sender's waits (sleep and poll release it) and numpy's GIL-free stretches."""

    def __init__(self, items: Iterator[Any], depth: int = 3) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(items,), name="synfin-prefetch", daemon=True)

    def __enter__(self) -> ThreadPrefetch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        # a block being generated finishes first (~1 s); no need to hold a stopping run for it: daemon
        self._thread.join(timeout=1)

    def items(self, wait: Callable[[], None], poll_s: float = 0.05) -> Iterator[Any]:
        return _items(lambda timeout: self._queue.get(timeout=timeout), wait, poll_s)

    def _fill(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_End())
        except Exception as error:  # surfaces in the consuming thread
            self._put(_Failed(error))

    def _put(self, item: Any) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


class ProcessPrefetch:
    """Runs `target(*args)` (a module-level function returning an iterator; `args` picklable) in a child
    process, `depth` items ahead. A reader thread of this process receives the items, so reading the
    pipe and unpickling overlap with the sender's work instead of holding it up."""

    def __init__(self, target: Callable[..., Iterator[Any]], args: tuple[Any, ...], depth: int = 3) -> None:
        context = multiprocessing.get_context("spawn")
        self._args = args
        # the arguments (a world: megabytes) go through a queue, whose writer is a feeder thread: passed to
        # Process they would be written by start() itself, which blocks for good if the child dies first
        self._inbox: Any = context.Queue(maxsize=1)
        self._queue: Any = context.Queue(maxsize=depth)
        # a lock-free flag, not an Event: an Event's lock held by a parent killed at that moment would
        # stay locked, and the orphaned child would block on it for good
        self._closed = context.RawValue("b", 0)
        self._process = context.Process(target=_serve, args=(target, self._inbox, self._queue, self._closed,
                                                             os.getpid()), name="synfin-generator", daemon=True)
        self._reader = ThreadPrefetch(self._received(), depth=1)

    def __enter__(self) -> ProcessPrefetch:
        with _main_module_hidden():
            self._process.start()
        self._inbox.put(self._args)
        self._reader.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.value = 1
        self._reader.__exit__(*exc)
        self._process.join(timeout=2)
        if self._process.is_alive():  # busy in a block: its work is not wanted any more
            self._process.terminate()
            self._process.join(timeout=2)
        for channel in (self._inbox, self._queue):
            channel.close()
            channel.cancel_join_thread()  # what the child did not read is not waited for

    def items(self, wait: Callable[[], None], poll_s: float = 0.05) -> Iterator[Any]:
        return self._reader.items(wait, poll_s)

    def _received(self) -> Iterator[Any]:
        """The child's items, on the reader thread; a child that dies without a word is a failure too."""
        def get(timeout: float) -> Any:
            if self._closed.value:
                return _End()
            try:
                return self._queue.get(timeout=timeout)
            except queue.Empty:
                if not self._process.is_alive() and self._queue.empty():
                    code = self._process.exitcode
                    raise PrefetchFailed(f"the generator process ended unexpectedly (exit code {code})") from None
                raise

        return _items(get, wait=lambda: None, poll_s=0.1)


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Spawn without importing the parent's `__main__` in the child: the child runs a module-level function
    of ours and needs none of it, and the `synfinance` command's main module imports every command (~0.5 s
    of the child's start-up, before the first chunk)."""
    main = sys.modules.get("__main__")
    hidden: dict[str, Any] = {name: main.__dict__.pop(name) for name in ("__file__", "__spec__")
                              if main and name in main.__dict__}
    if main is not None and "__spec__" in hidden:
        main.__spec__ = None  # type: ignore[assignment]  # spawn reads the attribute; None: nothing to import
    try:
        yield
    finally:
        if main is not None:
            main.__dict__.update(hidden)


def _serve(target: Callable[..., Iterator[Any]], inbox: Any, out: Any, closed: Any, parent: int) -> None:
    """The child's main: put the items until done, closed, or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides

    def put(item: Any) -> bool:
        while not closed.value:
            if os.getppid() != parent:
                return False  # the parent died (SIGKILL): nobody reads any more
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    try:
        args = _take(inbox, closed, parent)
        for item in target(*args) if args is not None else ():
            if not put(item):
                break
        else:
            put(_End())
    except Exception as error:
        # the parent re-raises it; an exception that does not pickle still arrives as its message
        put(_Failed(PrefetchFailed(f"{type(error).__name__}: {error}")))
    # Stay until the parent is done reading (it sets `closed` on exit) or dead. Exiting sooner would wait
    # at exit for the pipe to drain, and for good if the parent died meanwhile: nobody reads it then.
    while not closed.value and os.getppid() == parent:
        time.sleep(0.05)
    out.cancel_join_thread()  # what is still unread is not wanted


def _take(inbox: Any, closed: Any, parent: int) -> tuple[Any, ...] | None:
    """The target's arguments, once the parent's feeder thread has written them; None if it went away."""
    while not closed.value and os.getppid() == parent:
        try:
            args: tuple[Any, ...] = inbox.get(timeout=0.2)
            return args
        except queue.Empty:
            continue
    return None
