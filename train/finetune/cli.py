"""`cc2gpt finetune classify|instruct` and `cc2gpt classify`.

    cc2gpt finetune classify --checkpoint RUN --data FILE --out RUN2 [--trainable head|last-block|all|lora]
        [--balance] [--labels A,B] [--epochs N] [--lora-rank R --lora-alpha A --lora-targets T,...]
    cc2gpt finetune instruct --checkpoint RUN --data FILE.json --out RUN2 [--mask-prompt]
        [--template alpaca|phi3] [--trainable all|lora] [--epochs N]
    cc2gpt classify --checkpoint RUN2 --text TEXT

Both fine-tuning commands also take --lr, --batch-size, --split, --max-length, --seed,
--dtype, --merge (LoRA adapters folded into the weights at the end) and --resume (continue
RUN2 from its newest checkpoint). Under `torchrun --nproc_per_node=N -m cc2gpt.train.finetune ...`
each process takes its share of every batch.
"""

import argparse
import json
import sys

from cc2gpt.model.lora import DEFAULT_TARGETS

from .loop import FinetuneConfig

DEFAULTS = {  # per task: what trains and how, the book's recipes
    "classify": dict(trainable="last-block", epochs=5, lr=5e-5, split="0.7,0.1,0.2"),
    "instruct": dict(trainable="all", epochs=2, lr=5e-5, split="0.85,0.05,0.1"),
}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="cc2gpt finetune", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="task", required=True)
    for task in ("classify", "instruct"):
        s = sub.add_parser(task, help=f"fine-tune a run for {'classification' if task == 'classify' else 'instructions'}")
        d = DEFAULTS[task]
        s.add_argument("--checkpoint", required=True, metavar="RUN", help="the run to start from")
        s.add_argument("--data", required=True, help="TSV (label<TAB>text), CSV or JSONL (text, label)"
                       if task == "classify" else "a JSON list of {instruction, input, output}")
        s.add_argument("--out", required=True, metavar="RUN2")
        s.add_argument("--trainable", default=d["trainable"],
                       choices=["head", "last-block", "all", "lora"] if task == "classify" else ["all", "lora"])
        s.add_argument("--epochs", type=int, default=d["epochs"])
        s.add_argument("--lr", type=float, default=d["lr"])
        s.add_argument("--batch-size", type=int, default=8)
        s.add_argument("--split", default=d["split"], help="train,val,test fractions (default %(default)s)"
                       + ("" if task == "classify" else "; cut in file order: train, test, val, as the book"))
        s.add_argument("--max-length", type=int, help="tokens per example (default: the model's context)")
        s.add_argument("--seed", type=int, default=123)
        s.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
        s.add_argument("--lora-rank", type=int, default=8)
        s.add_argument("--lora-alpha", type=float, default=16.0, help="scale alpha/rank, as peft")
        s.add_argument("--lora-targets", default=",".join(DEFAULT_TARGETS),
                       help="Linear layers that get adapters (default %(default)s)")
        s.add_argument("--merge", action="store_true", help="fold LoRA adapters into the weights at the end")
        s.add_argument("--resume", action="store_true", help="continue RUN2 from its newest checkpoint")
        s.add_argument("--random-init", action="store_true", help="the base run's architecture and "
                       "tokenizer with fresh random weights: the baseline that shows what pretraining is worth")
        if task == "classify":
            s.add_argument("--balance", action="store_true", help="undersample every class to the rarest")
            s.add_argument("--labels", help="the labels, comma-separated (default: those in the data)")
        else:
            s.add_argument("--mask-prompt", action="store_true", help="no loss on the prompt's tokens")
            s.add_argument("--template", default="alpaca", choices=["alpaca", "phi3"])
            s.add_argument("--max-new-tokens", type=int, default=256, help="for the test responses")
    return p.parse_args(argv)


def config_from_args(args) -> FinetuneConfig:
    try:
        split = tuple(float(x) for x in args.split.split(","))
    except ValueError:
        raise ValueError(f"--split {args.split}: expected three comma-separated fractions") from None
    extra = (dict(balance=args.balance, labels=args.labels.split(",") if args.labels else [])
             if args.task == "classify" else
             dict(mask_prompt=args.mask_prompt, template=args.template, max_new_tokens=args.max_new_tokens))
    return FinetuneConfig(
        task=args.task, base=args.checkpoint, data=args.data, trainable=args.trainable,
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, split=split,
        max_length=args.max_length, seed=args.seed, dtype=args.dtype, lora_rank=args.lora_rank,
        lora_alpha=args.lora_alpha, lora_targets=tuple(args.lora_targets.split(",")),
        merge=args.merge, random_init=args.random_init, **extra)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = config_from_args(args)
        if args.task == "classify":
            from .classify import finetune_classify

            metrics = finetune_classify(cfg, args.out, resume=args.resume)
            summary = {"accuracy": metrics["accuracy"]}
        else:
            from .instruct import finetune_instruct

            metrics = finetune_instruct(cfg, args.out, resume=args.resume)
            summary = {"response_loss": metrics["response_loss"]}
    except (ValueError, OSError) as e:
        print(f"cc2gpt finetune {args.task}: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({**summary, "trainable_params": metrics["trainable_params"],
                      "total_params": metrics["total_params"]}))
    return 0


def classify_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="cc2gpt classify", description="the label of a text and its "
                                "probability, from a `finetune classify` run")
    p.add_argument("--checkpoint", required=True, metavar="RUN2")
    p.add_argument("--text", required=True)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    from .classify import classify, load_classifier

    try:
        model, tokenizer, cfg = load_classifier(args.checkpoint)
        label, prob = classify(model, tokenizer, cfg, args.text)
    except ValueError as e:
        print(f"cc2gpt classify: error: {e}", file=sys.stderr)
        return 1
    print(f"{label}\t{prob:.4f}")
    return 0
