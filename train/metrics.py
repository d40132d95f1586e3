"""Run reporting: RUN/metrics.jsonl (one object per logged step), the loss-curve PNG,
a progress line on the terminal, and TensorBoard when it is installed."""

import json
import sys
from pathlib import Path


class Metrics:
    def __init__(self, run_dir, tensorboard: bool, resume_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "metrics.jsonl"
        self.records = []
        if resume_step is not None and self.path.exists():
            # Steps after the checkpoint will be logged again by the resumed run.
            lines = self.path.read_text().splitlines()
            self.records = [r for r in map(json.loads, filter(None, lines)) if r["step"] <= resume_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:  # the tensorboard package is optional
                pass

    def log(self, record: dict):
        self.records.append(record)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def progress(self, r: dict, max_steps: int, max_time: float = 0.0):
        """One line per logged step; a time-budgeted run shows the budget spent, not max_steps."""
        parts = [f"step {r['step']:>6}" + (f" ({r['elapsed_s']:.0f}/{max_time:g} s)" if max_time
                                            else f"/{max_steps}"),
                 f"loss {r['loss']:.4f}", f"lr {r['lr']:.2e}", f"{r['tokens_per_s']:,.0f} tok/s"]
        if r.get("mfu") is not None:
            parts.append(f"mfu {100 * r['mfu']:.1f}%")
        if "val_loss" in r:
            parts.append(f"val {r['val_loss']:.4f} ({r['val_bpb']:.3f} bpb)")
        print(" | ".join(parts), file=sys.stderr, flush=True)

    def plot(self):
        """RUN/loss.png: training loss per step and validation loss where evaluated."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot([r["step"] for r in self.records], [r["loss"] for r in self.records], label="train")
        val = [r for r in self.records if "val_loss" in r]
        if val:
            ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val")
        ax.set(xlabel="step", ylabel="loss (nats/token)", title=self.run_dir.name)
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.run_dir / "loss.png", dpi=100)
        plt.close(fig)

    def close(self):
        if self.writer is not None:
            self.writer.close()
