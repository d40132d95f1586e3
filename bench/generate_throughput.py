"""Generation throughput of the gpt2-124m preset on CPU: cc2gpt with and without its KV cache
vs transformers' GPT2LMHeadModel.generate on the same weights (loaded from `model.export_hf`),
all greedy, batch of one, same random prompt, same process. Also the largest logit difference between
cc2gpt and transformers at this shape (GPT-2 init, random tokens).

Each timing is the best of --repeat runs (the first includes warm-up), the three contenders
interleaved so load from other processes hits them alike; one torch thread by default. On a shared machine wall time mostly
measures the neighbours, so tokens per CPU-second of this process (with one thread: tokens/s
on a core of its own) are printed too, and the ratio uses them. Last line: `ratio: X` = cc2gpt cached tokens/s over transformers'.

    .venv/bin/python bench/generate_throughput.py [--new-tokens 32] [--prompt-len 32] [--repeat 2] [--threads 1]
"""
import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from model import GPT, export_hf, generate, preset  # noqa: E402
from tokenizer import EOS_ID, train_tokenizer  # noqa: E402

CORPUS = ROOT / "../shared/data/lm_corpus"


def timed(fn):
    """(wall seconds, CPU seconds of this process, fn's result)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for both (1: steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    torch.manual_seed(0)
    model = GPT(preset("gpt2-124m")).eval()
    with tempfile.TemporaryDirectory() as tmp:
        spm = Path(tmp) / "tokenizer.model"
        text = (CORPUS / "tinyshakespeare/input.txt").read_text()[:200_000]
        spm.write_bytes(train_tokenizer([text], 2048))
        export_hf(model, Path(tmp) / "hf", spm, EOS_ID)
        hf = transformers.AutoModelForCausalLM.from_pretrained(Path(tmp) / "hf").eval()

    prompt = torch.randint(0, model.config.vocab_size, (1, args.prompt_len))
    n = args.new_tokens
    with torch.no_grad():
        idx = torch.randint(0, model.config.vocab_size, (1, 256))
        max_diff = (model(idx) - hf(idx).logits).abs().max().item()

    def ours(use_cache):
        return generate(model, prompt.tolist(), n, temperature=0, use_cache=use_cache)[0]

    def theirs():
        out = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n,
                          min_new_tokens=n, do_sample=False, pad_token_id=EOS_ID)
        return out[0, args.prompt_len:].tolist()

    runs = {"cached": [], "uncached": [], "hf": []}
    for _ in range(args.repeat):
        runs["cached"].append(timed(lambda: ours(True)))
        runs["hf"].append(timed(theirs))
        runs["uncached"].append(timed(lambda: ours(False)))
    wall = {k: min(w for w, _, _ in r) for k, r in runs.items()}
    cpu = {k: min(c for _, c, _ in r) for k, r in runs.items()}
    same = len({tuple(out) for r in runs.values() for _, _, out in r}) == 1

    print(f"gpt2-124m, CPU, {torch.get_num_threads()} threads, batch 1, prompt {args.prompt_len}"
          f" tokens, {n} new tokens, greedy, best of {args.repeat}")
    print(f"{'':32}{'tokens/s':>10}{'tokens/CPU-s':>14}")
    for key, name in (("cached", "cc2gpt, KV cache"), ("uncached", "cc2gpt, no cache"),
                      ("hf", "transformers GPT2LMHeadModel")):
        print(f"{name:32}{n / wall[key]:10.1f}{n / cpu[key]:14.1f}")
    print(f"KV cache speedup: {cpu['uncached'] / cpu['cached']:.2f}x (CPU time), "
          f"{wall['uncached'] / wall['cached']:.2f}x (wall)")
    print(f"greedy continuations identical (cached, uncached, transformers): {same}")
    print(f"max |logit difference| vs transformers, 256 random tokens: {max_diff:.2e}")
    print(f"wall-clock ratio (cached over transformers): {wall['hf'] / wall['cached']:.3f}")
    print(f"ratio: {cpu['hf'] / cpu['cached']:.3f}")


if __name__ == "__main__":
    main()
