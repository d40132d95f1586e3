"""The trainer: shard sampler, training loop, optimizer and schedule, checkpoints,
distributed setup, metrics; plus generation and export from a run folder."""
