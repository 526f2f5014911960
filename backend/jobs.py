"""Background jobs with progress; requests for the same work share one job."""

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from backend.errors import Busy
from backend.ids import is_job_id

log = logging.getLogger(__name__)

ProgressFn = Callable[[float], None]


@dataclass
class Job:
    id: str
    key: str
    description: str
    status: str = "queued"  # queued | running | done | failed
    progress: float = 0.0
    error: str | None = None
    created: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


class QueueFull(Busy):
    """Too many jobs wait already (HTTP 429); ``retry_after`` is in seconds."""


class ServerStopped(Exception):
    """Raised inside a job's work, at its next progress report, once the server stops."""


STOPPED = "the server stopped before this job finished"

# A client told to come back waits this long: jobs on real models take seconds to minutes.
RETRY_AFTER_S = 10


class JobManager:
    def __init__(self, workers: int = 1, max_queued: int = 8, keep: int = 1000):
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._active_by_key: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._max_queued = max_queued
        self._keep = keep
        # Set by shutdown: running work ends at its next progress report, since an
        # exiting interpreter joins the pool's threads and would wait for all of it.
        self._stopping = threading.Event()

    def submit(self, key: str, description: str, work: Callable[[ProgressFn], None]) -> Job:
        """Start ``work`` unless a job for ``key`` is already queued or running.

        Raises QueueFull when ``max_queued`` jobs wait already: each costs CPU time on
        the workers, and a client can ask for any number of distinct ones.
        """
        with self._lock:
            running = self._active_by_key.get(key)
            if running is not None:
                return running
            queued = sum(job.status == "queued" for job in self._active_by_key.values())
            if queued >= self._max_queued:
                raise QueueFull(
                    f"{queued} jobs are queued, the most this server takes; "
                    f"retry in {RETRY_AFTER_S} s",
                    RETRY_AFTER_S,
                )
            job = Job(id=uuid.uuid4().hex, key=key, description=description)
            self._jobs[job.id] = job
            if self._stopping.is_set():
                job.status, job.error = "failed", STOPPED
                return job
            self._active_by_key[key] = job
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
        self._executor.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id) if is_job_id(job_id) else None

    def _run(self, job: Job, work: Callable[[ProgressFn], None]) -> None:
        job.status = "running"

        def report(fraction: float) -> None:
            if self._stopping.is_set():
                raise ServerStopped(STOPPED)
            job.progress = min(max(float(fraction), job.progress), 1.0)

        try:
            report(0.0)
            work(report)
            job.progress, job.status = 1.0, "done"
        except ServerStopped:
            log.info("job %s (%s) stopped with the server", job.id, job.description)
            job.error, job.status = STOPPED, "failed"
        except Exception as error:  # a job's failure is reported, never raised into the pool
            log.exception("job %s (%s) failed", job.id, job.description)
            job.error, job.status = f"{type(error).__name__}: {error}", "failed"
        finally:
            with self._lock:
                self._active_by_key.pop(job.key, None)

    def shutdown(self) -> None:
        """Stop: queued jobs never start, running ones end at their next progress report."""
        self._stopping.set()
        with self._lock:
            for job in self._active_by_key.values():
                if job.status == "queued":
                    job.status, job.error = "failed", STOPPED
        self._executor.shutdown(wait=False, cancel_futures=True)
