"""The field's gated networks, rebuilt behind ``trainer.routing.RoutedNetwork``, and
importers for the checkpoints their public code wrote.

One module per codebase; each defines its network, registers its architectures in
``trainer.models.registry`` and provides a ``FAMILY`` (``trainer.field.common.Family``)
that reads that codebase's saved files. ``python -m trainer import --from NAME`` finds
the family here by name.
"""

import importlib

from trainer.field.common import Family

# Module names, in the order ``--from`` lists them. A family's module registers its
# architectures when imported, so checkpoints of them load wherever this package is.
_MODULES = ("skipnet", "blockdrop", "convnet_aig", "codinet_public")


def families() -> dict[str, Family]:
    """Every family by its ``--from`` name."""
    found = (importlib.import_module(f"trainer.field.{module}").FAMILY for module in _MODULES)
    return {family.name: family for family in found}
