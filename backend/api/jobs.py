from fastapi import APIRouter
from fastapi.responses import JSONResponse

from backend.api.deps import ExplorerDep, errors
from backend.schemas import JobInfo
from backend.services import Job

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


def job_info(job: Job) -> JobInfo:
    return JobInfo(
        job_id=job.id,
        status=job.status,
        progress=round(job.progress, 4),
        error=job.error,
        description=job.description,
    )


ACCEPTED = {202: {"model": JobInfo, "description": "being computed; poll /api/jobs/{id}"}}


def accepted(job: Job) -> JSONResponse:
    """202 for a result still being computed, pointing at the job computing it."""
    return JSONResponse(
        job_info(job).model_dump(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"}
    )


@router.get("/{job_id}", response_model=JobInfo, responses=errors(404, 422))
def get_job(job_id: str, explorer: ExplorerDep) -> JobInfo:
    return job_info(explorer.job(job_id))
