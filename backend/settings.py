"""Server settings: defaults, then ``CODINET_*`` environment variables, then the CLI."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainer.checkpoint import MAX_CHECKPOINT_BYTES
from trainer.engine import Runtime, ViewProtocol
from trainer.execution import resolve_device


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODINET_")

    runs_dir: Path = Field(Path("runs"), description="where runs/<name>/checkpoint.pt are found")
    data_dir: Path = Field(
        Path("data"), description="datasets (CIFAR, SVHN, imagefolder trees) for every model"
    )
    cache_dir: Path | None = Field(
        None, description="derived results (paths, views, embeddings); None: <runs_dir>/.cache"
    )
    cache_max_bytes: int = Field(
        2 * 1024**3, gt=0, description="size of the cache folder; least recently used go first"
    )
    memory_cache_max_bytes: int = Field(
        512 * 1024**2, gt=0, description="results and responses kept in memory"
    )
    max_queued_jobs: int = Field(
        8, ge=1, description="embedding jobs waiting for the worker; more get 429"
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="largest accepted upload")
    max_checkpoint_bytes: int = Field(
        MAX_CHECKPOINT_BYTES, gt=0, description="larger checkpoints are refused unread"
    )
    max_image_pixels: int = Field(40_000_000, gt=0, description="larger images are refused")
    max_image_bytes: int = Field(
        64 * 1024**2, gt=0, description="memory to decode an image's pixels; more is refused"
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="a request's headers must arrive within this; else closed"
    )
    body_timeout_s: float = Field(
        60.0, gt=0, description="a request's body must arrive within this; else 408"
    )
    keep_alive_s: int = Field(5, ge=1, description="an idle connection is closed after this")
    max_connections: int = Field(
        512,
        ge=1,
        description="open connections; more are closed at once (keep it under the "
        "open-file limit, which checkpoints and cache files need too)",
    )
    batch_size: int = Field(256, gt=0, description="inference batch size")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where models route: auto is the GPU when PyTorch sees one"
    )
    execution: Literal["auto", "conditional", "masked"] = Field(
        "auto",
        description="execution of skipped blocks; auto: the mode measured fastest "
        "for the device and batch size (conditional on CPUs, masked on GPUs)",
    )
    neighbors: int = Field(
        8, ge=1, le=100, description="nearest samples listed for an upload and a shown sample"
    )
    eval_views: int = Field(
        ViewProtocol.views,
        ge=2,
        le=32,
        description="augmented views per image (view distance) of a checkpoint that records none",
    )
    view_images_per_class: int = Field(
        ViewProtocol.images_per_class,
        ge=1,
        le=10_000,
        description="images per class whose views are routed, for a checkpoint that records none",
    )
    warmup: bool = Field(True, description="compile the embedding code at start-up")
    model_modules: str = Field(
        "",
        description="your own routed networks: Python modules (comma-separated) imported "
        "at start-up, which register them (README, 'Your own model')",
    )

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.runs_dir / ".cache"

    def runtime(self, local_rank: int = 0) -> Runtime:
        """Where and how models route (under torchrun, this process's GPU); raises
        trainer.execution.DeviceUnavailable when ``device`` is cuda and there is no GPU."""
        return Runtime(resolve_device(self.device, local_rank), execution=self.execution)


def admits(name: str, value) -> bool:
    """Whether the setting ``name`` admits ``value`` (an int setting's bounds, no bool):
    for values a stranger's checkpoint names where a setting would otherwise apply."""
    field = Settings.model_fields[name]
    try:
        admitted = TypeAdapter(Annotated[field.annotation, *field.metadata])
        admitted.validate_python(value, strict=True)
    except ValidationError:
        return False
    return True


def settings_error(error: Exception) -> str:
    """A settings problem in a sentence: an environment variable or flag pydantic
    refused (named as the variable), or a device that is not there."""
    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(
        f"CODINET_{'_'.join(map(str, issue['loc'])).upper()}: {issue['msg']}"
        for issue in error.errors()
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()


# The settings a command line may override, with what each defaults to when not given.
_FLAG_DEFAULTS = {
    "runs_dir": "$CODINET_RUNS_DIR or runs",
    "data_dir": "$CODINET_DATA_DIR or data",
    "cache_dir": "$CODINET_CACHE_DIR or <runs-dir>/.cache",
    "device": "$CODINET_DEVICE or auto",
    "execution": "$CODINET_EXECUTION or auto",
    "model_modules": "$CODINET_MODEL_MODULES or none",
}


def add_setting_arguments(parser) -> None:
    """``--runs-dir``, ``--data-dir``, ``--cache-dir``, ``--device``, ``--execution`` and
    ``--model-modules`` on an argparse parser, each described as the setting it
    overrides."""
    for name, default in _FLAG_DEFAULTS.items():
        field = Settings.model_fields[name]
        choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else None
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=Path if field.annotation in (Path, Path | None) else str,
            choices=choices,
            help=f"{field.description} (default: {default})",
        )


def setting_overrides(args) -> dict:
    """The settings given on the command line, to override the environment's with."""
    return {name: getattr(args, name) for name in _FLAG_DEFAULTS if getattr(args, name)}
