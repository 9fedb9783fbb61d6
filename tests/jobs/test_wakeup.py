"""A job committed by this process starts at once on an idle worker of the same process, not at
the worker's next poll; a rolled-back enqueue wakes nobody. (Bounded waits, not timings: the
poll here is 60 s, so a job that runs within the wait was woken.)"""

from __future__ import annotations

import asyncio

from daguerre.app import build_runtime
from daguerre.jobs import queue as job_queue
from daguerre.jobs.runner import register, worker_loop
from daguerre.settings import load_settings

KIND = "test-wakeup"


async def test_committed_job_wakes_idle_worker(tmp_path) -> None:
    rt = build_runtime(load_settings(env={"DAGUERRE_DEFAULT__DATA_DIR": str(tmp_path)}))
    await rt.db.upgrade()
    ran = asyncio.Event()

    async def handler(_rt, job) -> None:
        ran.set()

    register(KIND, handler)
    stop = asyncio.Event()
    worker = asyncio.create_task(worker_loop(rt, poll=60, stop=stop))
    try:
        await asyncio.sleep(0.2)  # the worker found nothing and is idle
        try:
            async with rt.db.write() as conn:
                await job_queue.enqueue(conn, KIND, {})
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert not rt.db.jobs_enqueued.is_set()
        async with rt.db.write() as conn:
            await job_queue.enqueue(conn, KIND, {})
        await asyncio.wait_for(ran.wait(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
        await rt.close()
