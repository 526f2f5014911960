from trainer.models import codinet as _codinet  # noqa: F401  (registers the variants)
from trainer.models.codinet import CoDiNet
from trainer.models.registry import create_model, list_models, register_model

__all__ = ["CoDiNet", "create_model", "list_models", "register_model"]
