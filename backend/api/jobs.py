from fastapi import APIRouter

from backend.api.deps import ExplorerDep
from backend.ids import shown
from backend.jobs import Job
from backend.schemas import JobInfo
from backend.services import UnknownItem

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def job_info(job: Job) -> JobInfo:
    return JobInfo(
        job_id=job.id,
        status=job.status,
        progress=round(job.progress, 4),
        error=job.error,
        description=job.description,
    )


@router.get("/{job_id}", response_model=JobInfo)
def get_job(job_id: str, explorer: ExplorerDep) -> JobInfo:
    job = explorer.jobs.get(job_id)
    if job is None:
        raise UnknownItem(f"no job {shown(job_id)}")
    return job_info(job)
