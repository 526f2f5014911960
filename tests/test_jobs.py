"""The job manager: a server that stops does not wait for the work its jobs had left."""

import threading
import time

from backend.jobs import JobManager


def endless(progress, started: threading.Event) -> None:
    """Work that never ends by itself, reporting its progress as real work does."""
    started.set()
    step = 0
    while True:
        step += 1
        progress(1 - 1 / step)
        time.sleep(0.01)


def test_shutdown_stops_a_running_job_at_its_next_progress_report():
    others = set(threading.enumerate())
    jobs = JobManager(workers=1)
    started = threading.Event()
    job = jobs.submit("endless", "endless work", lambda progress: endless(progress, started))
    assert started.wait(10)
    queued = jobs.submit("next", "queued behind it", lambda progress: None)
    jobs.shutdown()
    # The pool's thread ends: an interpreter exiting joins it, so a job left running
    # would keep a stopped server's process alive until its work was done.
    deadline = time.monotonic() + 10
    while job.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.status == "failed"
    assert "server stopped" in job.error
    assert (queued.status, queued.error) == ("failed", job.error)  # and it never starts
    while set(threading.enumerate()) - others:
        assert time.monotonic() < deadline, "the pool's thread is still running"
        time.sleep(0.01)


def test_a_job_submitted_after_shutdown_is_refused():
    jobs = JobManager(workers=1)
    jobs.shutdown()
    job = jobs.submit("late", "after the end", lambda progress: None)
    assert job.status == "failed"
    assert "server stopped" in job.error
