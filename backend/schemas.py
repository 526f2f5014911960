"""Response models of the REST API; OpenAPI is generated from them."""

from typing import Literal

from pydantic import BaseModel, Field

Split = Literal["test", "train"]  # the dataset splits a model is explored on


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="where: the part of the request, then its name")
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every 4xx answer's body."""

    detail: str | list[ValidationIssue] = Field(
        description="what is wrong, in a sentence; for a request whose parameters do not "
        "have their declared types or bounds, one issue per parameter"
    )


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    models: int = Field(description="loadable checkpoints in the runs directory")
    unloadable: dict[str, str] = Field(description="run name -> why its checkpoint is refused")
    loading: list[str] = Field(
        default_factory=list,
        description="runs whose checkpoint is being loaded: listed among the models once "
        "loaded (a listing does not wait for a large checkpoint)",
    )
    runs_dir: str
    warmup: str = Field(description="embedding code compilation: running, done, failed or off")
    device: str = Field(description="where models route", examples=["cpu", "cuda:0"])
    execution: str = Field(description="the execution setting: auto, conditional or masked")
    execution_by_batch_size: dict[str, str] = Field(
        description="the mode a batch of one image and a full batch run in",
        examples=[{"1": "conditional", "256": "conditional"}],
    )
    neighbors: int = Field(
        description="nearest samples listed for an upload and for a shown sample "
        "(CODINET_NEIGHBORS)",
        examples=[8],
    )


class ModelInfo(BaseModel):
    id: str = Field(description="the run directory's name")
    arch: str
    model_args: dict = Field(description="the arguments that, with arch, rebuild the network")
    family: str = Field(
        description="the network's codebase: codinet (trained here), skipnet, blockdrop, "
        "convnet-aig, codinet-public, or a researcher's own"
    )
    conditional: bool = Field(
        description="whether a skipped block's work is really not done (else every block "
        "is computed and masked)"
    )
    origin: dict[str, str] | None = Field(
        None,
        description="for an imported checkpoint: family, title, repository, source_file "
        "and its sha256; none for a model trained here",
    )
    dataset: str
    num_classes: int
    class_names: list[str]
    num_gates: int
    stage_blocks: list[int] = Field(description="gated blocks per stage, input side first")
    image_size: int
    channels: int
    full_macs: int = Field(description="MACs per image with every block executed")
    epoch: int | None = Field(description="epochs trained; none for an imported checkpoint")
    metrics: dict[str, float | int | None] = Field(description="test metrics saved at training")
    content_hash: str = Field(description="SHA-256 of the checkpoint file")
    group: str | None = Field(None, description="the ablation folder holding the run, if any")
    variant: str | None = Field(None, description="the ablation variant (<variant>-s<seed>)")
    seed: int | None = Field(None, description="the ablation seed (<variant>-s<seed>)")


class Paths(BaseModel):
    model_id: str
    split: str
    sample_ids: list[int]
    labels: list[int]
    predictions: list[int]
    confidences: list[float]
    paths: list[str] = Field(description="bit strings, input side first, 1 = executed")
    executed_blocks: list[int]
    macs: list[int]


class EmbeddingOut(BaseModel):
    model_id: str
    split: str
    method: str
    sample_ids: list[int]
    x: list[float]
    y: list[float]
    labels: list[int]
    predictions: list[int]
    path_ids: list[int] = Field(description="each sample's index into `paths`")
    paths: list[str] = Field(description="the distinct paths (bit strings)")
    path_counts: list[int] = Field(description="samples taking each distinct path")
    params: dict[str, str | int | float | None]


class FormationOut(BaseModel):
    model_id: str
    method: str = Field(description="the layout of the distinct paths of all epochs")
    params: dict[str, str | int | float | None]
    checkpoint_epoch: int = Field(description="the epoch the served checkpoint was saved at")
    class_names: list[str]
    epochs: list[int] = Field(description="the recorded epochs (completed epochs, from 1)")
    sample_ids: list[int] = Field(description="the probe images: test split sample ids")
    labels: list[int] = Field(description="each probe image's class")
    paths: list[str] = Field(description="the distinct paths of every epoch (bit strings)")
    x: list[float] = Field(description="each distinct path's point, shared by all epochs")
    y: list[float]
    path_ids: list[list[int]] = Field(
        description="per epoch, each probe image's index into `paths`"
    )
    predictions: list[list[int]] = Field(description="per epoch, each probe image's prediction")
    measures: dict[str, list[float | None]] = Field(
        description="per measure, its value at each epoch on the probe images (none where "
        "undefined or not measured: the linear probe is measured on `probe_epochs` only)"
    )
    probe_epochs: list[int] = Field(description="the epochs whose linear probe is measured")
    changed: list[float | None] = Field(
        description="per epoch, the share of probe images whose path differs from the "
        "previous epoch's (none at the first)"
    )
    changed_per_class: list[list[float | None]] = Field(
        description="per class, `changed` among its images"
    )
    settled: list[float] = Field(
        description="per epoch, the share of probe images whose path stays the same from "
        "it to the last epoch"
    )
    settle_epochs: list[int] = Field(
        description="per probe image, the epoch from which its path stays the last epoch's"
    )
    settled_90_epoch: int = Field(
        description="the first epoch from which 90% of probe images keep their path to the end"
    )


class JobInfo(BaseModel):
    job_id: str
    status: str = Field(description="queued, running, done or failed")
    progress: float = Field(ge=0, le=1)
    error: str | None = None
    description: str


class ClassMetrics(BaseModel):
    class_index: int
    class_name: str
    count: int
    accuracy: float | None
    unique_paths: int
    path_entropy: float = Field(description="bits; entropy of the distinct-path distribution")
    mean_executed_blocks: float | None
    mean_macs: float | None
    same_class_distance: float | None = Field(
        description="mean Hamming distance between two images of the class, in blocks"
    )
    same_class_ratio: float | None = Field(
        description="same_class_distance over the split's any_two_distance (lower: gathered)"
    )
    view_distance: float | None = Field(
        description="mean Hamming distance between augmented views of one image of the class"
    )
    view_ratio: float | None = Field(
        description="view_distance over the split's any_two_distance (lower: consistent)"
    )
    class_mean_distance: float | None = Field(
        description="mean L1 distance from the class's mean path to the others' (higher: apart)"
    )


class MeasureInfo(BaseModel):
    name: str = Field(description="the key under which every response reports it")
    label: str
    unit: str = Field(description="blocks, ratio or fraction")
    better: str = Field(description="lower or higher")
    description: str
    normalised: bool = Field(description="comparable across models with different path counts")


class ViewProtocolInfo(BaseModel):
    views: int = Field(description="augmented views per image")
    images_per_class: int = Field(description="first images of each class whose views are routed")
    seed: int


class Metrics(BaseModel):
    model_id: str
    split: str
    class_names: list[str]
    overall: dict[str, float | int | None] = Field(
        description="split totals and every measure of GET /api/measures"
    )
    per_class: list[ClassMetrics]
    class_distance: list[list[float]] = Field(
        description="L1 distance between class mean paths, in blocks (class x class)"
    )
    block_execution_rate: list[list[float]] = Field(
        description="fraction of each class's samples executing each block (class x block)"
    )
    view_protocol: ViewProtocolInfo


class Placement(BaseModel):
    x: float
    y: float
    placement: str = Field(description="how the point was placed: exact, transform or nearest")


class Neighbor(BaseModel):
    sample_id: int
    label: int
    class_name: str
    prediction: int
    distance: int = Field(description="Hamming distance to the path asked about")
    path: str


class Neighbors(BaseModel):
    model_id: str
    split: Split
    path: str = Field(description="the path whose nearest images these are")
    other_paths: bool = Field(description="whether images on the path itself were left out")
    neighbors: list[Neighbor] = Field(
        description="nearest first by Hamming distance, ties by sample id; "
        "CODINET_NEIGHBORS of them"
    )


class ViewPaths(BaseModel):
    paths: list[str]
    mean_distance: float = Field(description="mean Hamming distance between the views' paths")
    distances: list[int] = Field(
        default_factory=list,
        description="each view's Hamming distance to the image's own path, in blocks",
    )
    embedding: dict[str, list[Placement]] = Field(
        default_factory=dict,
        description="method -> each view's point, in the order of paths, for computed maps",
    )


class Routing(BaseModel):
    prediction: int
    class_name: str
    probabilities: list[float]
    path: str = Field(description="one character per gated block, input side first: 1 = executed")
    executed_blocks: int
    macs: int
    full_macs: int


class SampleRef(BaseModel):
    split: str
    sample_id: int
    label: int
    class_name: str


class RouteResult(Routing):
    model_id: str
    split: Split = Field(description="the dataset split the neighbours and map places come from")
    forced: bool = Field(description="whether the path was forced instead of the gates' choice")
    unforced: Routing | None = Field(
        None, description="with a forced path: the network's own prediction and path"
    )
    sample: SampleRef | None = Field(None, description="the dataset sample routed, if one was")
    upload_id: str | None = Field(
        None,
        description="for an upload: its id while the server holds it (15 minutes after "
        "its last use); GET /api/models/{model_id}/uploads/{upload_id}/route routes it "
        "again, with other parameters, without sending it again",
    )
    input_image: str = Field(
        description="what the network received, as a PNG data URL (after the dataset's "
        "preparation and resizing, before normalisation)"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="why an upload may be far from the training images (it is routed anyway)",
    )
    embedding: dict[str, Placement] = Field(description="method -> point, for computed ones")
    neighbors: list[Neighbor]
    views: ViewPaths | None = None
    dataset_error: str | None = Field(None, description="why neighbours are missing, if they are")


class SeedSpread(BaseModel):
    n: int
    mean: float | None
    sd: float | None = Field(description="standard deviation over seeds (n - 1)")
    values: list[float] = Field(description="one value per seed")


class PairedDifference(BaseModel):
    n: int = Field(description="seeds both variants have")
    mean: float | None = Field(description="reference minus baseline, mean over seeds")
    ci95: list[float] | None = Field(description="t-based 95% confidence interval")
    p_value: float | None = Field(description="paired t-test, two-sided")
    reading: str = Field(description="better, worse or no detectable difference, in words")


class SeedGroup(BaseModel):
    group: str = Field(description="the ablation folder under the runs directory")
    reference: str = Field(description="the variant the differences are taken from")
    variants: dict[str, dict[str, SeedSpread]] = Field(description="variant -> measure -> spread")
    differences: dict[str, dict[str, PairedDifference]] = Field(
        description="baseline variant -> measure -> reference minus baseline, paired by seed"
    )
    models: dict[str, dict[str, str]] = Field(description="variant -> seed -> model id")
    front: list[str] = Field(
        description="variants no other beats on accuracy, view ratio and linear probe at once "
        "(by their means over seeds)"
    )


Matrix = list[list[float | None]]


class FlippedBlock(BaseModel):
    """One direction of flipping, as classes x gated blocks matrices."""

    count: list[list[int]] = Field(description="images of the class the flip applies to")
    own_accuracy: Matrix = Field(description="their accuracy on their own paths")
    forced_accuracy: Matrix = Field(description="their accuracy with the block flipped")
    own_confidence: Matrix = Field(description="mean probability of the true class, own path")
    forced_confidence: Matrix = Field(description="the same with the block flipped")


class BlockImportance(BaseModel):
    model_id: str
    split: str
    class_names: list[str]
    gates: int
    images: int = Field(description="images measured: the whole split, or a sample of it")
    split_images: int = Field(description="images in the split")
    sampled: bool = Field(
        description="true when the split is larger than the server measures and a "
        "seeded random sample of `images` images stands for it"
    )
    off: FlippedBlock = Field(description="images that execute the block, forced to skip it")
    on: FlippedBlock = Field(description="images that skip the block, forced to execute it")


class TrainingLog(BaseModel):
    model_id: str
    checkpoint_epoch: int = Field(description="the epoch the served checkpoint was saved at")
    epochs: list[dict[str, float]] = Field(
        description="one row per epoch from the run's metrics.jsonl: epoch (completed "
        "epochs, from 1), learning rate, loss terms, accuracy, cost and routing measures"
    )
    loss_weights: dict[str, float] | None = Field(
        description="each loss term's weight in the total it was trained on (the loss "
        "columns of epochs are unweighted); none when the checkpoint does not say"
    )
    skipped_lines: int = Field(description="lines of metrics.jsonl that could not be read")
