"""The bounded window of calls the S3 and RBD puts keep in flight (no Ceph needed)."""

import asyncio
import threading
import time

import pytest

from daguerre.stores.inflight import Window
from daguerre.stores.threads import BlockingIO


class Boom(Exception):
    pass


async def test_at_most_limit_in_flight_and_drain_waits_for_all():
    window, active, peak, done = Window(3), 0, 0, []

    async def call(i):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01 * (i % 4))
        active -= 1
        done.append(i)

    for i in range(20):
        await window.submit(call, i)
        assert len(window) <= 3
    await window.drain()
    assert peak == 3
    assert sorted(done) == list(range(20))
    assert len(window) == 0


async def test_first_failure_is_raised_by_the_next_submit_or_drain():
    window = Window(2)

    async def fail():
        raise Boom()

    async def ok():
        await asyncio.sleep(0.05)

    await window.submit(fail)
    await asyncio.sleep(0)
    with pytest.raises(Boom):
        await window.submit(ok)
    window2 = Window(2)
    await window2.submit(ok)
    await window2.submit(fail)
    with pytest.raises(Boom):
        await window2.drain()


async def test_abandon_waits_for_running_threads_even_when_cancelled_again():
    io = BlockingIO()
    window = Window(4)
    release = threading.Event()
    running = []

    def blocking(i):
        running.append(i)
        release.wait(5)
        running.remove(i)

    async def put():
        try:
            for i in range(4):
                await window.submit(io.run, blocking, i)
            await asyncio.Event().wait()  # the source stalls
        except BaseException:
            await window.abandon()
            raise

    task = asyncio.create_task(put())
    while len(running) < 4:
        await asyncio.sleep(0.01)
    threading.Timer(0.4, release.set).start()
    t0 = time.monotonic()
    task.cancel()
    await asyncio.sleep(0.1)
    task.cancel()  # a second cancellation during the cleanup does not cut it short
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - t0 >= 0.3
    assert running == []


def test_limit_must_be_positive():
    with pytest.raises(ValueError):
        Window(0)
