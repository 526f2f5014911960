"""How the backend's parts meet: routers reach the services only through ``Explorer``,
cache keys come from one module with a version per kind, and each embedding setting is
declared once."""

import ast
from pathlib import Path

import pytest

from backend import keys

API = Path(__file__).parents[1] / "backend" / "api"
# What a router may not import: the services' internals, reached through Explorer.
INTERNALS = {
    "backend.store",
    "backend.jobs",
    "backend.cache",
    "backend.keys",
    "backend.extraction",
    "backend.importance",
    "backend.images",
}


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def test_routers_import_no_service_internals():
    routers = sorted(API.glob("*.py"))
    assert len(routers) >= 10
    reaching_in = {
        path.name: sorted(_imported_modules(path) & INTERNALS)
        for path in routers
        if _imported_modules(path) & INTERNALS
    }
    assert reaching_in == {}


def _explorer_chains(path: Path):
    """Each ``explorer.a.b...`` in a router: its line and its attribute names."""
    tree = ast.parse(path.read_text())
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        names, value = [], node
        while isinstance(value, ast.Attribute):
            names.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id == "explorer":
            yield node.lineno, names


def test_routers_use_no_attribute_of_explorer_but_its_operations():
    """``explorer.shared``, ``.store``, ``.jobs``, ``.cache``, ``.settings``: internals of
    the services; a router calls an operation of ``explorer`` or of one of its parts."""
    internals = {"shared", "context", "store", "jobs", "cache", "settings", "batcher", "held"}
    found = []
    for path in sorted(API.glob("*.py")):
        for line, names in _explorer_chains(path):
            if any(name in internals or name.startswith("_") for name in names):
                found.append(f"{path.name}:{line} explorer.{'.'.join(names)}")
    assert found == []


def test_routers_unpack_no_dict_from_a_service():
    """Services return the API's schema objects, so each response's shape is written
    once: a router unpacks no mapping into a call, neither ``Schema(**explorer...(...))``
    nor ``Schema(**columns)`` of columns it built from a service's result."""
    found = []
    for path in sorted(API.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg is None:
                        found.append(f"{path.name}:{node.lineno} **{ast.unparse(keyword.value)}")
    assert found == []


SERVICES = API.parent / "services"


def test_each_part_of_the_services_fits_on_a_screen_or_two():
    """No part grows back into one class doing every job: each module of
    ``backend/services`` stays under 260 lines, each class under 16 public methods."""
    modules = sorted(SERVICES.glob("*.py"))
    assert len(modules) >= 5
    for path in modules:
        assert len(path.read_text().splitlines()) < 260, path.name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                public = [
                    f
                    for f in node.body
                    if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")
                ]
                assert len(public) < 16, (path.name, node.name)


KEYS = {
    "paths": lambda: keys.paths("ab" * 32, "test"),
    "views": lambda: keys.views("ab" * 32, "test", {"views": 4, "images_per_class": 8}),
    "embeddings": lambda: keys.embedding("ab" * 32, "test", "umap", {"n_neighbors": 15}),
    "importance": lambda: keys.importance("ab" * 32, "test"),
    "formation": lambda: keys.formation("ab" * 32, "umap"),
    "payloads": lambda: keys.payload("paths", "ab" * 12, "digits", "csv"),
}


def test_every_kind_of_cache_key_has_a_version():
    assert set(KEYS) == set(keys.VERSIONS)


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_a_kinds_version_changes_its_keys_alone(kind, monkeypatch):
    before = {name: key() for name, key in KEYS.items()}
    assert all(key.startswith(f"{name}/") for name, key in before.items())
    monkeypatch.setitem(keys.VERSIONS, kind, keys.VERSIONS[kind] + 1)
    after = {name: key() for name, key in KEYS.items()}
    assert [name for name in KEYS if after[name] != before[name]] == [kind]


def test_keys_tell_their_inputs_apart():
    assert keys.paths("ab" * 32, "test") != keys.paths("ab" * 32, "train")
    assert keys.paths("ab" * 32, "test") != keys.paths("cd" * 32, "test")
    umap = keys.embedding("ab" * 32, "test", "umap", {"n_neighbors": 15})
    assert umap != keys.embedding("ab" * 32, "test", "umap", {"n_neighbors": 16})
    assert umap != keys.embedding("ab" * 32, "test", "tsne", {"n_neighbors": 15})


def test_a_new_paths_version_routes_the_split_again(untrained_runs, tmp_path, monkeypatch):
    """Files of an earlier version stay on disk but are never read again."""
    import backend.services
    from backend.settings import Settings

    settings = Settings(runs_dir=untrained_runs, cache_dir=tmp_path / "cache", warmup=False)
    first = backend.services.Explorer(settings).splits.paths("digits", "test")
    monkeypatch.setitem(keys.VERSIONS, "paths", keys.VERSIONS["paths"] + 1)
    extract, routed = backend.services.splits.extract_paths, []

    def counted(*args, **kwargs):
        routed.append(args[3])  # the cache file it is asked to write
        return extract(*args, **kwargs)

    monkeypatch.setattr(backend.services.splits, "extract_paths", counted)
    second = backend.services.Explorer(settings).splits.paths("digits", "test")
    assert routed == [second.key] and second.key != first.key
    assert sorted(p.name for p in (tmp_path / "cache" / "paths").iterdir()) == sorted(
        Path(key).name for key in (first.key, second.key)
    )
    assert (second.table.paths == first.table.paths).all()


def test_each_embedding_setting_is_declared_once():
    """The query parameters, their bounds and defaults come from ``PARAMETERS``."""
    from backend.app import create_app
    from backend.embeddings import DEFAULT_PARAMS, PARAMETERS, resolve_params
    from backend.errors import InvalidInput
    from backend.settings import Settings

    spec = create_app(Settings(warmup=False)).openapi()
    operation = spec["paths"]["/api/models/{model_id}/embeddings/{method}"]["get"]
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    for parameter in PARAMETERS:
        bounds = query[parameter.name]["anyOf"][0]
        assert (bounds["minimum"], bounds["maximum"]) == (parameter.low, parameter.high)
        assert DEFAULT_PARAMS[parameter.method][parameter.name] == parameter.default
        other = "tsne" if parameter.method == "umap" else "umap"
        with pytest.raises(InvalidInput, match=f"applies to {parameter.method}"):
            resolve_params(other, {parameter.name: parameter.low})
        with pytest.raises(InvalidInput, match="must be from"):
            resolve_params(parameter.method, {parameter.name: parameter.high * 2 + 1})
    assert set(query) == {p.name for p in PARAMETERS} | {"split", "format"}


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        ("InvalidInput", 422),
        ("UnknownItem", 404),
        ("TooLarge", 413),
        ("UnsupportedImage", 415),
        ("ValueError", 500),  # a defect, not the client's bad input
        ("KeyError", 500),
    ],
)
def test_statuses_come_from_the_services_error_types(raised, status, tmp_path, monkeypatch):
    import builtins

    from fastapi.testclient import TestClient

    import backend.errors
    from backend.app import create_app
    from backend.services.models import Models
    from backend.settings import Settings

    error_type = getattr(backend.errors, raised, None) or getattr(builtins, raised)

    def failing(self, model_id):
        raise error_type("what went wrong")

    monkeypatch.setattr(Models, "get", failing)
    app = create_app(Settings(runs_dir=tmp_path, warmup=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/models/digits")
    assert response.status_code == status
    if status < 500:
        assert response.json() == {"detail": "what went wrong"}


def test_the_backend_reaches_models_only_through_the_routing_interface():
    """No backend module imports a model class or a gate index: every network, CoDiNet's
    or the field's or a researcher's own, is a trainer.routing.RoutedNetwork to it."""
    backend = Path(__file__).parents[1] / "backend"
    reaching = {
        str(path.relative_to(backend)): sorted(
            m
            for m in _imported_modules(path)
            if m.startswith(("trainer.models.codinet", "trainer.field."))
        )
        for path in sorted(backend.rglob("*.py"))
    }
    assert {name: found for name, found in reaching.items() if found} == {}


def test_the_tests_take_no_fixture_from_the_benchmarks():
    """What makes the tests' inputs (CIFAR files, untrained checkpoints, a digit photo)
    lives in tests/, and the benchmarks import it from there: only tests/test_bench.py,
    which runs the benchmarks themselves, imports bench."""
    reaching = {
        path.name: sorted(m for m in _imported_modules(path) if m.split(".")[0] == "bench")
        for path in sorted(Path(__file__).parent.glob("*.py"))
        if path.name != "test_bench.py"
    }
    assert {name: found for name, found in reaching.items() if found} == {}
