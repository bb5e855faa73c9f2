"""Running callables at once in threads, for the tests of concurrent requests."""

from __future__ import annotations

import threading

JOIN_TIMEOUT = 60  # seconds for all the threads of one test together; far above what they need


def run_together(workers, barrier: threading.Barrier) -> list[BaseException]:
    """Start one daemon thread per callable, wait for all (bounded), return what they raised."""
    errors: list[BaseException] = []

    def guarded(work):
        try:
            work()
        except BaseException as exc:  # reported by the test, not lost in a thread
            errors.append(exc)
            barrier.abort()  # nobody waits for a thread that will never arrive

    threads = [threading.Thread(target=guarded, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still running after {JOIN_TIMEOUT} s: {stuck}"
    return errors
