"""A small model registry: one decorator to register, one factory to build."""

import importlib
import inspect
from collections.abc import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_FIELD_LOADED = False


def _with_field() -> dict[str, Callable[..., nn.Module]]:
    """The registry, once the field's networks have registered themselves. Loaded on
    first use, not at import: their modules import this one."""
    global _FIELD_LOADED
    if not _FIELD_LOADED:
        _FIELD_LOADED = True
        from trainer.field import families

        families()
    return _MODELS


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a model factory under its function name."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def import_model_modules(names: str) -> None:
    """Import the modules named (comma-separated), whose ``@register_model`` factories
    register a researcher's own routed networks, so their checkpoints load."""
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"model module {name!r} cannot be imported: {error}") from None


def list_models() -> list[str]:
    return sorted(_with_field())


def model_arguments(name: str) -> dict[str, inspect.Parameter]:
    """The keyword arguments a registered model accepts, with their types and defaults:
    the factory's own, or, for a factory that passes ``**kwargs`` on, those its
    ``accepts()`` attribute lists."""
    factory = _with_field()[name]
    parameters = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return factory.accepts()
    return dict(parameters)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; unknown names raise a KeyError listing the known ones."""
    try:
        factory = _with_field()[name]
    except KeyError:
        raise KeyError(
            f"unknown architecture {name!r}; known: {', '.join(list_models())}"
        ) from None
    model = factory(**kwargs)
    # Plain data that rebuilds the model: checkpoints store these two.
    model.arch = name
    model.model_args = dict(kwargs)
    return model
