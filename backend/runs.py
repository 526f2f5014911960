"""Which paths in the runs folder are runs, by one rule for listing and for lookup.

``runs/<name>/checkpoint.pt`` is the model ``<name>``, and ``runs/<group>/<name>/
checkpoint.pt`` (the runs of an ablation) is ``<group>.<name>``; a run folder named
``<group>.<name>`` comes before a group's run. Folders whose name starts with a dot are
hidden on purpose (the cache among them).

A symbolic link (a run folder, a group folder or a checkpoint) is followed only when it
resolves inside the runs folder and not to a folder holding the link: a link out would
serve whatever a writer of the runs folder points it at (``/dev/zero``, another user's
files), and a cycle such as ``runs/loop -> runs`` would serve every model again under a
second id. A link to a run inside the folder (``runs/latest -> exp3``) is an alias and
is served under both names. Whatever is found where a run would be and is refused (such
a link, a checkpoint that is a directory, a FIFO or a device, a folder whose name is no
model id) is listed with the reason, so nothing is silently missing.
"""

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from backend.ids import MODEL_ID_RULE, is_model_id

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class Run:
    id: str
    checkpoint: Path
    group: str | None  # the ablation folder holding the run, if any


def scan(root: Path) -> tuple[dict[str, Run], dict[str, str]]:
    """Every run under ``root`` by id, and every refused one with its reason. A folder
    removed while it is scanned is skipped, never an error."""
    real_root = _real(root)
    runs: dict[str, Run] = {}
    refused: dict[str, str] = {}

    def record(model_id: str, found: Run | str | None) -> None:
        if found is None or model_id in runs or model_id in refused:
            return
        if not is_model_id(model_id):
            refused[model_id] = f"the run folder's name is no model id ({MODEL_ID_RULE})"
        elif isinstance(found, str):
            refused[model_id] = found
        else:
            runs[model_id] = found

    for name in _names(root):
        record(name, _run_at(real_root, root / name, name, None))
    for group in _names(root):
        if _link_problem(real_root, root / group) is None:
            for name in _names(root / group):
                run_id = f"{group}.{name}"
                record(run_id, _run_at(real_root, root / group / name, run_id, group))
    return runs, refused


def locate(root: Path, model_id: str) -> Run | str | None:
    """The run of a valid model id, the reason it is refused, or None when there is
    none: the same rule as ``scan``, for one id, without listing the folder."""
    real_root = _real(root)
    found = _run_at(real_root, root / model_id, model_id, None)
    if found is not None or "." not in model_id:
        return found
    group, name = model_id.split(".", 1)
    if group.startswith(".") or _link_problem(real_root, root / group) is not None:
        return None  # a refused group is listed under its own name
    return _run_at(real_root, root / group / name, model_id, group)


def _names(folder: Path) -> list[str]:
    """The entries of a folder worth a look (not hidden), sorted; none if it is gone."""
    try:
        with os.scandir(folder) as entries:
            return sorted(e.name for e in entries if not e.name.startswith("."))
    except OSError:  # removed, not a folder, or unreadable: no runs there
        return []


def _run_at(real_root: Path, folder: Path, model_id: str, group: str | None) -> Run | str | None:
    """The run in ``folder``, the reason it is refused, or None when it holds none."""
    problem = _link_problem(real_root, folder)
    if problem:
        return f"{folder} {problem}"
    checkpoint = folder / CHECKPOINT
    if not os.path.lexists(checkpoint):
        return None
    problem = _link_problem(real_root, checkpoint) or _kind_problem(checkpoint)
    if problem:
        return f"{checkpoint} {problem}"
    return Run(model_id, checkpoint, group)


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _link_problem(real_root: Path, path: Path) -> str | None:
    """Why a link may not be followed (None for a path that is no link, or may be)."""
    if not os.path.islink(path):
        return None
    target = _real(path)
    if not target.is_relative_to(real_root):
        return f"is a symbolic link out of the runs folder (to {target}), not followed"
    if _real(path.parent).is_relative_to(target):
        return f"is a symbolic link to a folder holding it (to {target}), a cycle not followed"
    return None


_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def _kind_problem(checkpoint: Path) -> str | None:
    """Why a checkpoint is no file to read (a stat: it never blocks, whatever it is)."""
    try:
        mode = os.stat(checkpoint).st_mode
    except FileNotFoundError:
        return None  # gone, or a dangling link: the read that follows says so
    except OSError as error:
        return f"cannot be read: {error.strerror}"
    for is_kind, kind in _KINDS.items():
        if is_kind(mode):
            return f"is not a regular file but {kind}"
    return None
