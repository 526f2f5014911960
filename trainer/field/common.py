"""What every importer shares: the family record, the refusal, and checks of a saved
state dict against the layout a network expects, each giving a sentence that names
what was expected and what was found."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch


class ImportRefused(ValueError):
    """A file is not what the importer was told it is; the message says why."""


@dataclass(frozen=True)
class Converted:
    """A saved network in this project's terms."""

    arch: str  # a name in trainer.models.registry
    model_args: dict  # plain data that, with arch, rebuilds the network
    state_dict: dict[str, torch.Tensor]  # keys and shapes of the rebuilt network
    input_size: int  # the image side the network was built for (32 CIFAR, 224 ImageNet)
    # (mean, std) this network was trained with, where it differs from its family's
    # table for the dataset (BlockDrop's R110_C10 saw raw pixels, its R32_C10 did not).
    normalization: tuple[list[float], list[float]] | None = None


@dataclass(frozen=True)
class Family:
    """One codebase of the field: how its files are read and how it preprocessed."""

    name: str  # the --from name
    title: str  # as a paper names it
    repository: str  # owner/name on GitHub
    # (saved object, --arch or None) -> Converted; raises ImportRefused.
    convert: Callable[[object, str | None], Converted]
    # dataset name -> (mean, std) the codebase normalised its inputs with.
    normalization: Mapping[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    archs: tuple[str, ...] = ()  # the --arch values it knows


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict:
    """A state dict without the prefix DataParallel (or DDP) adds, when every key has it."""
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix) :]: value for key, value in state.items()}
    return dict(state)


def tensor_dict(value, where: str) -> dict[str, torch.Tensor]:
    """``value`` as a state dict, or ImportRefused naming what it is instead."""
    if not isinstance(value, Mapping) or not value:
        raise ImportRefused(f"{where} should be a state dict of tensors, found {_kind(value)}")
    wrong = [key for key, tensor in value.items() if not isinstance(tensor, torch.Tensor)]
    if wrong or not all(isinstance(key, str) for key in value):
        raise ImportRefused(
            f"{where} should map parameter names to tensors; {wrong[0]!r} holds "
            f"{_kind(value[wrong[0]])}"
            if wrong
            else f"{where} should map parameter names to tensors"
        )
    return dict(value)


def check_layout(
    found: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[int, ...]],
    what: str,
    optional: Callable[[str], bool] = lambda key: key.endswith("num_batches_tracked"),
) -> None:
    """Refuse a state dict whose keys or shapes differ from ``expected`` (keys of the
    original layout with their shapes); ``optional`` keys may be absent (old PyTorch
    wrote no ``num_batches_tracked``)."""
    missing = [k for k in expected if k not in found and not optional(k)]
    extra = [k for k in found if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first {', '.join(missing[:3])})")
        if extra:
            parts.append(f"{len(extra)} unexpected (first {', '.join(extra[:3])})")
        raise ImportRefused(
            f"the weights are not those of {what}: of the {len(expected)} keys expected, "
            + "; ".join(parts)
        )
    for key, shape in expected.items():
        if key in found and tuple(found[key].shape) != tuple(shape):
            raise ImportRefused(
                f"the weights are not those of {what}: {key} should have shape "
                f"{tuple(shape)}, found {tuple(found[key].shape)}"
            )


def _kind(value) -> str:
    if isinstance(value, Mapping):
        return f"a dict with keys {', '.join(map(str, list(value)[:5])) or '(none)'}"
    return f"a {type(value).__name__}"
