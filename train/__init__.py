"""The trainer: shard sampler, training loop, optimizer and schedule, checkpoints,
distributed setup, metrics; and the commands that use a finished run folder (generate,
export-hf, in train/run.py)."""


class TrainingError(RuntimeError):
    """The run cannot go on (non-finite loss, mismatched data, a run folder in the way)."""
