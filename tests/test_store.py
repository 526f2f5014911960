"""Loading checkpoints from a runs folder whose files a stranger may have written: no
file can freeze the server, pin its memory, or outlive its removal."""

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import backend.store
from backend.app import create_app
from backend.settings import Settings
from backend.store import ModelStore, UnknownModel
from trainer.checkpoint import CheckpointError, read_checkpoint_bytes

DATA = Path("data")
LIMIT = 2**20  # the size limit of the tests' direct reads: what /dev/zero could fill


def answers_within(seconds: float, call, *args):
    """``call(*args)``'s result, or a failure if it has not answered in ``seconds`` (the
    timeout is the test's: a hung server never answers)."""
    result = {}

    def run():
        try:
            result["value"] = call(*args)
        except Exception as error:  # reported below
            result["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"no answer within {seconds} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


@contextmanager
def served(runs: Path, cache: Path) -> Iterator[TestClient]:
    """A client of a server of ``runs`` (its lifespan run, no warm-up)."""
    settings = Settings(runs_dir=runs, cache_dir=cache, warmup=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def runs(untrained_runs, tmp_path):
    """A runs folder of one model, ``good``: a copy of the session's untrained one."""
    runs = tmp_path / "runs"
    shutil.copytree(untrained_runs / "digits", runs / "good")
    return runs


def test_a_fifo_checkpoint_is_refused_without_blocking(runs):
    (runs / "fifo").mkdir()
    os.mkfifo(runs / "fifo" / "checkpoint.pt")
    store = ModelStore(runs, DATA)
    models, errors = answers_within(20, store.load_all)
    assert [m.id for m in models] == ["good"]
    assert "not a regular file" in errors["fifo"]


def test_a_checkpoint_linked_to_a_device_is_refused_without_reading_it(runs):
    (runs / "zero").mkdir()
    (runs / "zero" / "checkpoint.pt").symlink_to("/dev/zero")
    store = ModelStore(runs, DATA)
    _, errors = answers_within(20, store.load_all)
    assert "out of the runs folder (to /dev/zero)" in errors["zero"]


def let_go(fifo: Path) -> None:
    """Let go a reader held in the open of ``fifo`` (what a test whose protection is
    missing leaves behind): a writer's open ends it, so no thread of the test stays
    blocked for the rest of the session."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # no reader waits (ENXIO), or no FIFO is there: nothing to let go
        pass


# The scan refuses FIFOs and links out of the folder before any read, so the reader's
# own protections (trainer.files) are tested by calling it directly.
def read_within_10_s(path: Path, within: Path | None = None) -> bytes:
    return answers_within(10, lambda: read_checkpoint_bytes(path, LIMIT, "LIMIT", within))


def test_reading_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "checkpoint.pt"
    os.mkfifo(fifo)
    try:
        with pytest.raises(CheckpointError, match="not a regular file"):
            read_within_10_s(fifo)
    finally:
        let_go(fifo)


def test_reading_a_link_to_a_device_is_refused_unread(tmp_path):
    link = tmp_path / "checkpoint.pt"
    link.symlink_to("/dev/zero")
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_within_10_s(link)


def test_reading_a_link_out_of_its_folder_is_refused(tmp_path):
    """Checked on the opened descriptor's real path: the file is refused whatever it is."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (tmp_path / "outside.pt").write_bytes(b"weights")
    for name, target in (("zero", Path("/dev/zero")), ("file", tmp_path / "outside.pt")):
        link = runs / name
        link.symlink_to(target)
        refusal = f"out of {runs} (at {target.resolve()})"
        with pytest.raises(CheckpointError, match=re.escape(refusal)):
            read_within_10_s(link, within=runs)


def test_a_checkpoint_swapped_for_a_fifo_after_the_scan_is_refused(runs, monkeypatch):
    """The store's own path: the run is found and stat'ed as a regular file, then
    renamed to a FIFO just before its read. The read is refused at once, and the model
    loads again once its file is back."""
    checkpoint = runs / "good" / "checkpoint.pt"
    good = checkpoint.read_bytes()
    original = backend.store.read_checkpoint_bytes

    def swapped_then_read(path, *args):
        os.mkfifo(runs / "good" / "fifo")
        os.replace(runs / "good" / "fifo", checkpoint)
        return original(path, *args)

    monkeypatch.setattr(backend.store, "read_checkpoint_bytes", swapped_then_read)
    store = ModelStore(runs, DATA)
    try:
        with pytest.raises(CheckpointError, match="not a regular file"):
            answers_within(10, lambda: store.get("good"))
    finally:
        let_go(checkpoint)
    monkeypatch.setattr(backend.store, "read_checkpoint_bytes", original)
    (runs / "spare.pt").write_bytes(good)
    os.replace(runs / "spare.pt", checkpoint)
    assert answers_within(20, lambda: store.get("good")).id == "good"


def test_a_checkpoint_over_the_size_limit_is_refused_unread(runs):
    size = (runs / "good" / "checkpoint.pt").stat().st_size
    store = ModelStore(runs, DATA, max_checkpoint_bytes=size - 1)
    _, errors = store.load_all()
    assert f"{size:,} bytes" in errors["good"] and f"{size - 1:,}" in errors["good"]


@contextmanager
def held_in_load(store: ModelStore, monkeypatch, model_id: str) -> Iterator[threading.Event]:
    """Load ``model_id`` in a thread held inside its read; yields the event that lets the
    read go on (set it, or the load waits 30 s). On leaving, the read goes on and the
    thread is joined: its load ends before the test's folder is removed."""
    entered, release = threading.Event(), threading.Event()
    original = store._load

    def slow_load(loading_id, path, group):
        if loading_id == model_id:
            entered.set()
            release.wait(30)
        return original(loading_id, path, group)

    monkeypatch.setattr(store, "_load", slow_load)
    loader = threading.Thread(target=store.get, args=(model_id,), daemon=True)
    loader.start()
    try:
        assert entered.wait(20)
        yield release
    finally:
        release.set()
        loader.join(30)


def test_one_checkpoint_blocked_in_its_load_does_not_block_the_others(runs, monkeypatch):
    """Loading is done outside the lock every model needs."""
    shutil.copytree(runs / "good", runs / "slow")
    store = ModelStore(runs, DATA)
    with held_in_load(store, monkeypatch, "slow"):
        assert answers_within(20, lambda: store.get("good")).id == "good"


def test_a_dataset_being_loaded_does_not_block_the_other_models(runs, tmp_path, monkeypatch):
    """A cold dataset load (CIFAR from disk takes seconds) held inside the loader: the
    listings and another model's route answer meanwhile; the load then ends."""
    shutil.copytree(runs / "good", runs / "other")
    entered, release = threading.Event(), threading.Event()
    original = backend.store.load_dataset

    def held_load(*args):
        entered.set()
        release.wait(30)
        return original(*args)

    monkeypatch.setattr(backend.store, "load_dataset", held_load)
    with served(runs, tmp_path / "cache") as client:
        routing = threading.Thread(target=client.get, args=("/api/models/good/paths",))
        routing.start()
        try:
            assert entered.wait(20)
            for url in ("/api/health", "/api/models", "/api/groups", "/api/models/other"):
                assert answers_within(10, client.get, url).status_code == 200, url
        finally:
            release.set()
            routing.join(30)
        assert client.get("/api/models/good/paths").status_code == 200


def test_a_listing_waits_for_a_small_checkpoint_another_request_is_loading(runs, monkeypatch):
    """A small checkpoint is never missing from a listing: the page's first listing
    raced a request loading the same model and showed one model of two."""
    store = ModelStore(runs, DATA)
    with held_in_load(store, monkeypatch, "good") as release:
        threading.Timer(0.5, release.set).start()
        models, errors = answers_within(20, store.load_all)
    assert [m.id for m in models] == ["good"] and errors == {}


def test_a_removed_checkpoint_is_unloaded(runs):
    store = ModelStore(runs, DATA)
    assert store.get("good").id == "good"
    (runs / "good" / "checkpoint.pt").unlink()
    store.load_all()
    assert "good" not in store._loaded


REFUSED_MEMORY = """
import gc, resource, sys
from pathlib import Path
from backend.store import ModelStore, UnknownModel
from trainer.checkpoint import CheckpointError
from trainer.checkpoint import CheckpointError
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
runs = Path(sys.argv[1])
store = ModelStore(runs, Path("data"))
before = rss()
for name in ("a", "b", "c"):
    try:
        store.get(name)
    except CheckpointError:
        pass
gc.collect()
print(rss() - before)
"""


@pytest.mark.slow  # hundreds of MB written, memory measured in a subprocess
def test_refused_checkpoints_do_not_stay_in_memory(tmp_path):
    """Three 200 MB files that are no checkpoints: after they are refused, the server's
    resident memory holds none of them (the reason is kept, not the bytes)."""
    runs = tmp_path / "runs"
    for name in ("a", "b", "c"):
        (runs / name).mkdir(parents=True)
        with open(runs / name / "checkpoint.pt", "wb") as f:
            f.write(os.urandom(200 * 2**20))
    grown = subprocess.run(
        [sys.executable, "-c", REFUSED_MEMORY, str(runs)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
        timeout=300,
    ).stdout.split()[-1]
    grown = int(grown) / 2**20
    assert grown < 100, f"{grown:.0f} MiB more resident after refusing 600 MB"


def test_the_server_lists_a_fifo_as_unloadable_and_keeps_answering(runs, tmp_path):
    (runs / "fifo").mkdir()
    os.mkfifo(runs / "fifo" / "checkpoint.pt")
    with served(runs, tmp_path / "cache") as client:
        health = answers_within(20, lambda: client.get("/api/health")).json()
        assert "not a regular file" in health["unloadable"]["fifo"]
        answer = answers_within(20, lambda: client.get("/api/models/fifo"))
        assert answer.status_code == 409 and "not a regular file" in answer.json()["detail"]
        assert answers_within(20, lambda: client.get("/api/models/good")).status_code == 200


def test_a_checkpoint_that_vanishes_before_its_read_is_unknown(runs, monkeypatch):
    """Removed between the stat and the open: 404 for that model, not 409 or 500, and
    not listed as unloadable."""
    store = ModelStore(runs, DATA)
    original = backend.store.read_checkpoint_bytes

    def vanishing(path, *args):
        Path(path).unlink()
        return original(path, *args)

    monkeypatch.setattr(backend.store, "read_checkpoint_bytes", vanishing)
    with pytest.raises(UnknownModel, match="no model 'good'"):
        store.get("good")
    assert store.load_all() == ([], {})


def test_the_404_of_a_model_replaced_while_it_loads_says_so(runs, tmp_path, monkeypatch):
    """A run whose checkpoint is renamed away and back during every read of it: the
    404 says it was replaced and to ask again, not that there is no such model while
    naming it among the known ones; asked again once the renames stop, it is there. A
    removed run is no model, and the known ones are the others."""
    shutil.copytree(runs / "good", runs / "fv")
    checkpoint, aside = runs / "fv" / "checkpoint.pt", runs / "fv" / "aside.pt"
    original = backend.store.read_checkpoint_bytes

    def read_mid_rename(path, *args):
        if Path(path) != checkpoint:
            return original(path, *args)
        os.replace(checkpoint, aside)
        try:
            return original(path, *args)
        finally:
            os.replace(aside, checkpoint)

    monkeypatch.setattr(backend.store, "read_checkpoint_bytes", read_mid_rename)
    with served(runs, tmp_path / "cache") as client:
        answer = client.get("/api/models/fv")
        assert (answer.status_code, answer.json()["detail"]) == (
            404,
            "the checkpoint of model 'fv' was replaced or removed while it was read; ask again",
        )
        monkeypatch.setattr(backend.store, "read_checkpoint_bytes", original)
        assert client.get("/api/models/fv").status_code == 200
        shutil.rmtree(runs / "fv")
        answer = client.get("/api/models/fv")
        assert (answer.status_code, answer.json()["detail"]) == (404, "no model 'fv'; known: good")


def test_a_model_being_loaded_is_answered_once_loaded(runs, tmp_path, monkeypatch):
    """A request for a model another request is loading waits for that load and is
    answered with the model, not a 404."""
    with served(runs, tmp_path / "cache") as client:
        store = client.app.state.explorer.shared.store
        with held_in_load(store, monkeypatch, "good") as release:
            threading.Timer(0.5, release.set).start()
            answer = answers_within(20, client.get, "/api/models/good")
        assert answer.status_code == 200 and answer.json()["id"] == "good"


def test_deleting_and_recreating_checkpoints_is_never_a_500(runs, tmp_path):
    """Many delete-recreate cycles (a file and a whole run folder) while clients ask:
    the vanishing model is 200 or 404, the lists are always 200."""
    good = (runs / "good" / "checkpoint.pt").read_bytes()
    statuses: dict[str, set] = {}
    stop = threading.Event()

    def churn():
        spare = tmp_path / "spare.pt"
        for cycle in range(200):
            folder = runs / "flaky"
            if cycle % 2:
                shutil.rmtree(folder, ignore_errors=True)
            else:
                (folder / "checkpoint.pt").unlink(missing_ok=True)
            folder.mkdir(exist_ok=True)
            spare.write_bytes(good)
            os.replace(spare, folder / "checkpoint.pt")
        stop.set()

    with served(runs, tmp_path / "cache") as client:

        def ask():
            while not stop.is_set():
                for url in ("/api/health", "/api/models", "/api/groups", "/api/models/flaky"):
                    statuses.setdefault(url, set()).add(client.get(url).status_code)

        askers = [threading.Thread(target=ask, daemon=True) for _ in range(3)]
        for thread in askers:
            thread.start()
        churn()
        for thread in askers:
            thread.join(60)
    assert statuses["/api/models/flaky"] <= {200, 404}, statuses
    for url in ("/api/health", "/api/models", "/api/groups"):
        assert statuses[url] == {200}, statuses


def test_a_run_linked_out_of_the_runs_folder_is_refused_and_listed(runs, tmp_path):
    outside = tmp_path / "elsewhere" / "run"
    outside.mkdir(parents=True)
    shutil.copy(runs / "good" / "checkpoint.pt", outside / "checkpoint.pt")
    (runs / "ev").symlink_to(outside)
    (runs / "evfile").mkdir()
    (runs / "evfile" / "checkpoint.pt").symlink_to(outside / "checkpoint.pt")
    store = ModelStore(runs, DATA)
    models, errors = store.load_all()
    assert [m.id for m in models] == ["good"]
    assert "out of the runs folder" in errors["ev"], errors
    assert "out of the runs folder" in errors["evfile"], errors
    with pytest.raises(CheckpointError, match="out of the runs folder"):
        store.get("ev")  # refused, not "no model"


def test_a_link_to_a_folder_above_serves_no_model_twice(runs):
    """``runs/loop -> runs`` is a cycle, refused and listed; a link to a run inside the
    folder is an alias, served under its name."""
    (runs / "loop").symlink_to(runs)
    (runs / "latest").symlink_to("good")
    store = ModelStore(runs, DATA)
    models, errors = store.load_all()
    assert sorted(m.id for m in models) == ["good", "latest"]
    assert "a cycle" in errors["loop"], errors
    with pytest.raises(UnknownModel):
        store.get("loop.good")


def test_special_files_where_a_checkpoint_belongs_are_listed_with_a_reason(runs):
    (runs / "folder" / "checkpoint.pt").mkdir(parents=True)
    (runs / "fifo").mkdir()
    os.mkfifo(runs / "fifo" / "checkpoint.pt")
    (runs / "linked-fifo").mkdir()
    (runs / "linked-fifo" / "checkpoint.pt").symlink_to(runs / "fifo" / "checkpoint.pt")
    store = ModelStore(runs, DATA)
    _, errors = answers_within(20, store.load_all)
    assert "a directory" in errors["folder"], errors
    assert "a FIFO" in errors["fifo"] and "a FIFO" in errors["linked-fifo"], errors
    with pytest.raises(CheckpointError, match="a directory"):
        store.get("folder")


def test_a_model_replaced_while_it_is_looked_up_is_not_reported_missing(runs, monkeypatch):
    """The instant a rename leaves no file is not 'no model': the store looks again."""
    store = ModelStore(runs, DATA)
    original, calls = backend.store._file_signature, []

    def renamed_once(path):
        calls.append(path)
        if len(calls) == 1:
            raise FileNotFoundError(path)
        return original(path)

    monkeypatch.setattr(backend.store, "_file_signature", renamed_once)
    assert store.get("good").id == "good"


def test_a_listing_does_not_wait_for_a_model_being_loaded(runs, monkeypatch):
    """A large checkpoint loading is listed as loading; the listing (health, models,
    groups) answers at once, and lists the model once it is loaded."""
    shutil.copytree(runs / "good", runs / "slow")
    store = ModelStore(runs, DATA, listing_wait_bytes=0)  # every checkpoint counts as large
    entered, release = threading.Event(), threading.Event()
    original = store._load

    def slow_load(model_id, path, group):
        if model_id == "slow":
            entered.set()
            release.wait(30)
        return original(model_id, path, group)

    monkeypatch.setattr(store, "_load", slow_load)
    try:
        models, errors = answers_within(10, store.load_all)
        assert entered.is_set()
        assert [m.id for m in models] == ["good"] and errors == {}
        assert store.loading() == ["slow"]
    finally:
        release.set()
    assert answers_within(20, lambda: store.get("slow")).id == "slow"
    assert [m.id for m in store.load_all()[0]] == ["good", "slow"]
    assert store.loading() == []


REPLACED_MEMORY = """
import os, shutil, sys, threading
from pathlib import Path
from backend.store import ModelStore
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
runs, spare = Path(sys.argv[1]), Path(sys.argv[2])
store = ModelStore(runs, Path("data"))
store.get("big")
loaded = rss()
for _ in range(6):  # replaced, each load on a thread of its own, as requests do
    shutil.copy(spare, runs / "big" / ".tmp")
    os.replace(runs / "big" / ".tmp", runs / "big" / "checkpoint.pt")
    loader = threading.Thread(target=store.get, args=("big",))
    loader.start()
    loader.join()
replaced = rss()
shutil.rmtree(runs / "big")
store.load_all()
print(loaded, replaced, rss())
"""


@pytest.mark.slow  # hundreds of MB written, memory measured in a subprocess
def test_a_replaced_or_removed_checkpoint_returns_its_memory(tmp_path):
    """A model replaced six times holds the memory of one, and once removed, none
    (resident memory measured in a subprocess)."""
    from tests.untrained_models import digits_checkpoint

    runs = tmp_path / "runs"
    digits_checkpoint(runs / "big" / "checkpoint.pt", 0, "codinet_resnet50")
    digits_checkpoint(tmp_path / "spare.pt", 1, "codinet_resnet50")
    size = (tmp_path / "spare.pt").stat().st_size
    loaded, replaced, removed = map(
        int,
        subprocess.run(
            [sys.executable, "-c", REPLACED_MEMORY, str(runs), str(tmp_path / "spare.pt")],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[1],
            timeout=300,
        ).stdout.split()[-3:],
    )
    assert replaced - loaded < size, f"{(replaced - loaded) / size:.1f}x the file kept"
    assert loaded - removed > 0.7 * size, f"{(loaded - removed) / size:.1f}x the file freed"
