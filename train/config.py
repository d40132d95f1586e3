"""The trainer's one typed config: presets are JSON files in workflows/presets/,
`--set key=value` overrides any field (model fields as `model.NAME`), and the
resolved config is saved as RUN/config.json so a run can be resumed and read back."""

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from cc2gpt.model import GPTConfig

PRESET_DIR = Path(__file__).resolve().parents[1] / "workflows" / "presets"
SCHEDULES = ("cosine", "wsd")
DTYPES = ("auto", "fp32", "bf16", "fp16")
PARALLEL = ("ddp", "fsdp")
AC_MODES = ("none", "selective", "full")
OPTIMIZERS = ("adamw", "muon")


@dataclass
class TrainConfig:
    model_preset: str = "tiny"  # a model.PRESETS name
    model: dict = field(default_factory=dict)  # GPTConfig fields replacing the preset's
    # Batch: a step sees tokens_per_step tokens (global, whatever the number of processes),
    # in micro-batches of micro_batch_size windows per process, with gradient accumulation.
    # `cc2gpt train` lowers a preset's micro_batch_size to fit the number of processes
    # (fit_micro_batch); one set with --set is used as given.
    tokens_per_step: int = 4096
    micro_batch_size: int = 16
    max_steps: int = 300
    # Time budget: stop after max_time seconds of training steps (0: no limit; evaluations
    # and checkpoint writes are not counted). The schedule then runs on the fraction of the
    # budget spent instead of the fraction of max_steps, so the decay ends when time does.
    max_time: float = 0.0
    # The optimizer (train/optim.py) and the learning-rate schedule. "muon": Muon at muon_lr
    # for the blocks' matrices, AdamW at lr for embeddings, head, norms and biases.
    optimizer: str = "adamw"  # "adamw" | "muon"
    muon_lr: float = 0.02
    muon_momentum: float = 0.95
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # the schedule ends at lr * min_lr_ratio
    warmup_steps: int = 20
    schedule: str = "cosine"  # "cosine" | "wsd" (warmup-stable-decay)
    decay_fraction: float = 0.2  # wsd: the last fraction of the run decays linearly
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0  # 0 disables clipping
    # Precision and speed. "auto": bf16 on GPUs that have it (else fp16), and on CPU
    # whichever of fp32 and bf16 matmuls measures faster on this machine.
    dtype: str = "auto"
    compile: bool = False  # torch.compile the model (the gpt2-124m preset turns it on)
    parallel: str = "ddp"  # "ddp" | "fsdp", used under torchrun
    seed: int = 1337
    vocab_multiple: int = 64  # vocab_size padded up to this (padded ids are never sampled)
    # Reporting and checkpoints (intervals in steps; 0 disables).
    log_interval: int = 10
    eval_interval: int = 100
    # Validation targets per evaluation, from windows spread evenly over the val split
    # (0: the whole split).
    eval_tokens: int = 32768
    checkpoint_interval: int = 100
    keep_checkpoints: int = 3
    tensorboard: bool = True  # only if the tensorboard package is installed
    # Scale (train/parallel.py): activation checkpointing per block ("none" | "selective":
    # keep matmul outputs, recompute the rest | "full": recompute the block); build sharded
    # models on the meta device; write checkpoints in the background.
    activation_checkpointing: str = "none"
    meta_init: bool = True
    async_checkpoint: bool = True
    tp: int = 1  # tensor-parallel degree (processes per model replica); data-parallel: world / tp

    def __post_init__(self):
        for name, allowed in (("schedule", SCHEDULES), ("dtype", DTYPES), ("parallel", PARALLEL),
                              ("activation_checkpointing", AC_MODES), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r}: expected one of {allowed}")
        for name in ("tokens_per_step", "micro_batch_size", "max_steps", "vocab_multiple", "tp"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_time < 0 or self.eval_tokens < 0:
            raise ValueError("max_time and eval_tokens must be >= 0")
        if self.warmup_steps < 0 or not 0 <= self.decay_fraction <= 1:
            raise ValueError("warmup_steps must be >= 0 and decay_fraction in [0, 1]")
        self.model_config(vocab_size=1)  # fail now on an unknown preset or model field

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The model's config with vocab_size padded up to a multiple of vocab_multiple."""
        from cc2gpt.model import preset

        padded = -(-vocab_size // self.vocab_multiple) * self.vocab_multiple
        return preset(self.model_preset, **{**self.model, "vocab_size": padded})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config field(s) {unknown}; fields are {sorted(known)}")
        return cls(**d)


def data_parallel_size(cfg: TrainConfig, world_size: int) -> int:
    """The model replicas (data-parallel ranks) of world_size processes in groups of cfg.tp."""
    if world_size % cfg.tp:
        raise ValueError(f"tp={cfg.tp} does not divide the {world_size} processes")
    return world_size // cfg.tp


def batch_split(cfg: TrainConfig, world_size: int) -> tuple[int, int]:
    """(windows per step, micro-steps per process) of cfg's global batch of tokens_per_step
    tokens split over world_size processes; a ValueError naming the numbers when it does not
    split evenly."""
    T = cfg.model_config(vocab_size=1).block_size
    windows, rem = divmod(cfg.tokens_per_step, T)
    per_micro = cfg.micro_batch_size * world_size
    if rem or windows % per_micro:
        raise ValueError(
            f"tokens_per_step={cfg.tokens_per_step} must be a multiple of block_size ({T}) x "
            f"micro_batch_size ({cfg.micro_batch_size}) x processes ({world_size}) = {T * per_micro}")
    return windows, windows // per_micro


def fit_micro_batch(cfg: TrainConfig, world_size: int) -> TrainConfig:
    """A copy of cfg with the largest micro_batch_size, at most cfg's, that splits the global
    batch evenly over world_size processes (the global batch stays); cfg itself when none
    does, as tokens_per_step is not a multiple of block_size x world_size (batch_split says so)."""
    windows, rem = divmod(cfg.tokens_per_step, cfg.model_config(vocab_size=1).block_size)
    if rem or windows % world_size:
        return cfg
    per_process = windows // world_size
    micro = max(m for m in range(1, min(cfg.micro_batch_size, per_process) + 1) if per_process % m == 0)
    return replace(cfg, micro_batch_size=micro)


def load_preset(name_or_path: str) -> dict:
    """A preset's fields: `name` is workflows/presets/NAME.json, or a path to a JSON file."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = PRESET_DIR / f"{name_or_path}.json"
    if not path.is_file():
        names = sorted(p.stem for p in PRESET_DIR.glob("*.json"))
        raise ValueError(f"no preset {name_or_path!r} (looked for {path}); presets: {names}")
    return json.loads(path.read_text())


def parse_value(text: str):
    """A --set value: JSON if it parses (numbers, true/false, null, lists), else a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(d: dict, assignments: list[str]) -> dict:
    """A copy of config dict `d` with `key=value` assignments applied; `model.X=V` sets a
    model field. Types follow the field: an int given for a float field becomes a float."""
    d = json.loads(json.dumps(d))
    train_fields = {f.name: f.type for f in fields(TrainConfig)}
    model_fields = {f.name: f.type for f in fields(GPTConfig)}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected key=value")
        value = parse_value(raw)
        if key.startswith("model."):
            name = key.removeprefix("model.")
            if name not in model_fields:
                raise ValueError(f"--set {key}: GPTConfig has no field {name!r}; "
                                 f"fields are {sorted(model_fields)}")
            d.setdefault("model", {})[name] = _coerce(key, value, model_fields[name])
        elif key in train_fields and key != "model":
            d[key] = _coerce(key, value, train_fields[key])
        else:
            raise ValueError(f"--set {key}: TrainConfig has no field {key!r}; fields are "
                             f"{sorted(train_fields)} (model fields as model.NAME)")
    return d


def _coerce(key: str, value, annotation):
    kind = annotation if isinstance(annotation, type) else None
    if isinstance(annotation, str):  # postponed annotations
        kind = {"int": int, "float": float, "bool": bool, "str": str}.get(annotation)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is not None and not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"--set {key}={value!r}: expected a {kind.__name__}")
    return value
