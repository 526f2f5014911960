"""Server settings: defaults, then ``CODINET_*`` environment variables, then the CLI."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from trainer.engine import ViewProtocol


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
    max_image_pixels: int = Field(40_000_000, gt=0, description="larger images are refused")
    max_image_bytes: int = Field(
        64 * 1024**2, gt=0, description="memory to decode an image's pixels; more is refused"
    )
    batch_size: int = Field(256, gt=0, description="inference batch size")
    neighbors: int = Field(8, ge=1, le=100, description="nearest samples returned for an upload")
    eval_views: int = Field(
        ViewProtocol.views, ge=2, le=32, description="augmented views per image (view distance)"
    )
    view_images_per_class: int = Field(
        ViewProtocol.images_per_class,
        ge=1,
        le=10_000,
        description="images per class whose views are routed",
    )
    warmup: bool = Field(True, description="compile the embedding code at start-up")

    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.runs_dir / ".cache"


@lru_cache
def get_settings() -> Settings:
    return Settings()


_FOLDER_DEFAULTS = {
    "runs_dir": "$CODINET_RUNS_DIR or runs",
    "data_dir": "$CODINET_DATA_DIR or data",
    "cache_dir": "$CODINET_CACHE_DIR or <runs-dir>/.cache",
}


def add_folder_arguments(parser) -> None:
    """``--runs-dir``, ``--data-dir`` and ``--cache-dir`` on an argparse parser, each
    described as the setting it overrides."""
    for name, default in _FOLDER_DEFAULTS.items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=Path,
            help=f"{Settings.model_fields[name].description} (default: {default})",
        )


def folder_overrides(args) -> dict:
    """The folders given on the command line, to override the settings with."""
    return {name: getattr(args, name) for name in _FOLDER_DEFAULTS if getattr(args, name)}
