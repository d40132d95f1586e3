"""Training throughput: cc2gpt's GPT and training step vs Hugging Face transformers'
GPT2LMHeadModel of the same shape, batch, precision and optimizer, in this process.

    .venv/bin/python bench/train_throughput.py [--shapes tiny,gpt2-124m] [--rounds 3]
        [--dtype auto|fp32|bf16] [--threads 1] [--no-compile] [--system-malloc]

Both sides run the trainer's own step code, train.step.TrainStep, on the same
batch of random tokens (tiny: 16 x 256, vocab 2048; gpt2-124m: 1 x 1024, vocab 50304):
forward with the mean cross-entropy, backward, gradient clipping at 1.0 with the
NaN/inf checks kept on the device, and the trainer's optimizer, train.optim.build_optimizer
(AdamW lr 1e-3, betas 0.9/0.95, weight decay 0.1 on matrices only, torch's fused kernel,
which is also the default of transformers' Trainer on torch >= 2.8), under the same
autocast; the loss is read back and checked (TrainStep.read) at the end of each round, as
the trainer does on its log steps. Both use the same memory allocator: the trainer's
train.allocator.keep_freed_memory (glibc keeps freed memory instead of faulting fresh
pages in every step), which speeds up
transformers' eager model more than ours; --system-malloc measures both on glibc's defaults
instead. Only the model differs: cc2gpt's GPT as the trainer runs it with its `compile`
switch on (the default here), transformers' GPT2LMHeadModel as users run it (eager, SDPA
attention, no dropout, gelu_new, tied embeddings). The two alternate in rounds, in turns
of who goes first, each round after one untimed step of its own (the heap the other side
left behind costs the first step page faults), and each side's best round counts. Time is
this process's CPU time (not wall time), so other load on the machine skews it little.
MFU is against the matmul peak of the same dtype, measured here on the same number of
threads by the trainer's train.mfu.measure_matmul_peak (also per CPU second). dtype auto
takes the faster of fp32 and bf16 matmuls as measured, as the trainer's dtype=auto does:
on CPUs without bf16 units (AVX2-only ones, like this one) bf16 matmuls are ~9x slower
than fp32, so both sides then run fp32; `--dtype bf16` forces bf16 autocast on both.
The last line is `ratio: X`, the geometric mean over the shapes of cc2gpt's tokens/s
over transformers'.
"""
import argparse
import contextlib
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from model import GPT, preset  # noqa: E402
from train.allocator import keep_freed_memory  # noqa: E402
from train.config import TrainConfig  # noqa: E402
from train.distributed import Dist  # noqa: E402
from train.mfu import measure_matmul_peak  # noqa: E402
from train.optim import build_optimizer  # noqa: E402
from train.step import TrainStep  # noqa: E402

# shape -> (vocab_size, batch, block_size)
SHAPES = {"tiny": (2048, 16, 256), "gpt2-124m": (50304, 1, 1024)}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def matmul_peak(dtype) -> float:
    """The trainer's measured matmul peak (train.mfu), per CPU second like the tokens/s here."""
    return measure_matmul_peak(dtype) / torch.get_num_threads()


def hf_model(vocab, block, cfg):
    from transformers import GPT2Config, GPT2LMHeadModel

    c = GPT2Config(vocab_size=vocab, n_positions=block, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
                   n_head=cfg.n_head, activation_function="gelu_new", resid_pdrop=0.0,
                   embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=1)
    model = GPT2LMHeadModel._from_config(c, attn_implementation="sdpa")
    model.loss_type = "ForCausalLM"  # what it defaults to anyway, without a warning
    return model


class HFLoss(torch.nn.Module):
    """transformers' model behind cc2gpt's `forward(x, y) -> loss`, so the same step code
    drives both (labels=x: transformers shifts the labels itself)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, y):
        return self.model(input_ids=x, labels=x).loss


def trainer_step(model, dtype) -> TrainStep:
    """The trainer's own step, train.step.TrainStep, with the trainer's optimizer
    (train.optim.build_optimizer) and gradient clipping at 1.0."""
    opt = build_optimizer(model, TrainConfig(), "cpu")
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    autocast = (torch.autocast("cpu", dtype=dtype) if dtype != torch.float32
                else contextlib.nullcontext())
    return TrainStep(model, opt, scaler, autocast, 1.0, Dist())


def timed_round(step: TrainStep, windows, n: int) -> float:
    """Seconds of CPU time for n steps on one micro-batch of windows, the loss read back
    and checked at the end, after one untimed step (compilation and optimizer state at
    first, then this side's own heap)."""
    lr = TrainConfig().lr
    step([windows], 1, lr)
    t = time.process_time()
    for i in range(n):
        loss = step([windows], i + 2, lr)
    step.read(loss, n + 1)
    return time.process_time() - t


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="tiny,gpt2-124m")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=0, help="steps per round (0: ~4 s of work)")
    p.add_argument("--dtype", default="auto", choices=["auto", *DTYPES])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--system-malloc", action="store_true",
                   help="glibc's default allocator for both sides, not the trainer's setting")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with (contextlib.nullcontext("glibc defaults") if args.system_malloc
          else keep_freed_memory()) as malloc:
        run(args, malloc)


def run(args, malloc: str):
    torch.manual_seed(0)
    peaks = {name: matmul_peak(dt) for name, dt in DTYPES.items()}
    dtype_name = max(peaks, key=peaks.get) if args.dtype == "auto" else args.dtype
    dtype = DTYPES[dtype_name]
    print(f"torch {torch.__version__}, {args.threads} thread(s); matmul peak per CPU second: "
          + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in peaks.items())
          + f"; benchmark dtype {dtype_name}; cc2gpt compile={not args.no_compile}; "
          f"allocator: {malloc}")
    print(f"{'shape':<10} {'model':<13} {'tokens/s':>10} {'MFU':>7}  (best of {args.rounds} rounds)")
    ratios = []
    for shape in args.shapes.split(","):
        vocab, batch, block = SHAPES[shape]
        cfg = preset(shape, vocab_size=vocab, block_size=block)
        ours = GPT(cfg)
        flops = ours.flops_per_token()
        if not args.no_compile:
            ours.compile()
        theirs = hf_model(vocab, block, cfg)
        windows = torch.randint(0, vocab, (batch, block + 1))  # inputs [:, :-1], targets [:, 1:]
        steps = {"cc2gpt": trainer_step(ours, dtype), "transformers": trainer_step(HFLoss(theirs), dtype)}
        n = args.steps or max(1, int(4.0 / (flops * batch * block / peaks[dtype_name])))
        best = {k: 0.0 for k in steps}
        for r in range(args.rounds):
            for name, step in (list(steps.items()) if r % 2 == 0 else reversed(steps.items())):
                best[name] = max(best[name], n * batch * block / timed_round(step, windows, n))
        for name, tps in best.items():
            print(f"{shape:<10} {name:<13} {tps:>10,.0f} {100 * tps * flops / peaks[dtype_name]:>6.1f}%")
        ratios.append(best["cc2gpt"] / best["transformers"])
        print(f"{shape:<10} ratio {ratios[-1]:.2f} ({n} steps of {batch}x{block} tokens per round)")
    print(f"ratio: {math.prod(ratios) ** (1 / len(ratios)):.3f}")


if __name__ == "__main__":
    main()
