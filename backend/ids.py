"""The patterns that ids in request paths must follow, checked before anything is looked up.

A model id names a run folder, so it reaches the file system: an id the pattern refuses
(longer than a file name may be, hidden, a path, not ASCII) is an unknown model, without
a ``stat`` of anything. Job ids are what ``uuid4().hex`` makes.
"""

import re

MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MODEL_ID_RULE = (
    "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit, without '..'"
)
JOB_ID = re.compile(r"[0-9a-f]{32}")


def is_model_id(text: str) -> bool:
    return MODEL_ID.fullmatch(text) is not None and ".." not in text


def is_job_id(text: str) -> bool:
    return JOB_ID.fullmatch(text) is not None


def shown(text: str, limit: int = 64) -> str:
    """An id as quoted in a message: a hostile one may be long."""
    return repr(text if len(text) <= limit else text[:limit] + "...")
