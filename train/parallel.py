"""Parallelism applied to the model from outside (torchtitan's split: model/ knows nothing
of it): activation checkpointing, torch.compile and FSDP2 sharding, in torchtitan's order
(AC, compile, FSDP), and initialisation on the meta device.

With sharded weights (FSDP) the model is built on the `meta` device (shapes, no memory),
wrapped and sharded there, and only then materialised: each rank allocates its own shards
and fills them (`init_weights`), so no rank ever holds the whole model. The values are the
ones an unsharded build gives for the same seed: each parameter is drawn whole on CPU, in
the order and from the RNG stream GPT's constructor uses, and each rank keeps its shard of
it (one parameter at a time is whole, never the model).
"""

import copy

import torch
import torch.nn as nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.tensor import DTensor, distribute_tensor
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

from cc2gpt.model import GPT, GPTConfig
from cc2gpt.model.gpt import rope_tables

from . import distributed as dist_utils
from .config import TrainConfig

# Selective AC keeps what is costly to recompute (matmul and attention outputs) and
# recomputes the cheap elementwise rest (norms, GELU, residual adds, dropout masks).
_aten = torch.ops.aten
SAVED_OPS = {_aten.mm.default, _aten.addmm.default, _aten.bmm.default, _aten.linear.default,
             _aten._scaled_dot_product_flash_attention_for_cpu.default,
             _aten._scaled_dot_product_flash_attention.default,
             _aten._scaled_dot_product_efficient_attention.default,
             _aten._scaled_dot_product_cudnn_attention.default}


def _keep_matmuls(ctx, op, *args, **kwargs):
    return CheckpointPolicy.MUST_SAVE if op in SAVED_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def apply_ac(model: GPT, mode: str):
    """Wrap every transformer block in activation checkpointing: "full" keeps only the
    block's input and recomputes its whole forward in the backward pass; "selective" keeps
    the matmul and attention outputs and recomputes the rest. Parameter names do not change
    for checkpoints (DCP's state-dict helpers drop the wrapper's prefix)."""
    if mode == "none":
        return
    kwargs = {} if mode == "full" else {
        "context_fn": lambda: create_selective_checkpoint_contexts(_keep_matmuls)}
    for i, block in enumerate(model.transformer.h):
        model.transformer.h[i] = checkpoint_wrapper(block, **kwargs)


def apply_fsdp(model: GPT, mesh=None):
    """FSDP2: each block a unit (its weights gathered for its forward and backward only),
    then the root (embedding, final norm, head)."""
    from torch.distributed.fsdp import fully_shard

    for block in model.transformer.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)


def build_model(cfg: TrainConfig, d: dist_utils.Dist) -> tuple[GPT, nn.Module]:
    """The model initialised from cfg.seed on the run's device and the same model as
    training calls it: bare, DDP-wrapped or FSDP-sharded, with activation checkpointing
    and compile as cfg asks. Sharded runs build on the meta device first (cfg.meta_init)."""
    config = GPTConfig(**cfg.model)
    sharded = d.enabled and cfg.parallel == "fsdp"
    meta = sharded and cfg.meta_init
    torch.manual_seed(cfg.seed)
    with torch.device("meta" if meta else "cpu"):  # drawn on CPU whatever the device
        model = GPT(config)
    if not meta:
        model.to(d.device)
    templates = leaf_templates(model) if meta else None
    apply_ac(model, cfg.activation_checkpointing)
    if cfg.compile and not sharded:
        model.compile()
    elif cfg.compile:  # FSDP shards per block, so compile per block (torchtitan's order)
        for block in model.transformer.h:
            block.compile()
    if not d.enabled:
        wrapped = model
    elif sharded:
        apply_fsdp(model)
        wrapped = model
    else:
        wrapped = dist_utils.wrap(model, "ddp", d)
    if meta:
        model.to_empty(device=d.device)
        init_weights(model, templates, cfg.seed)
    return model, wrapped


def leaf_templates(model: GPT) -> list[tuple[nn.Module, nn.Module]]:
    """(module, a copy of it as built) for every module holding parameters of its own, in
    construction order; taken on the meta device before wrapping, so the copies cost nothing
    and keep the full shapes."""
    return [(m, copy.deepcopy(m)) for m in model.modules()
            if next(m.parameters(recurse=False), None) is not None]


def init_weights(model: GPT, templates: list[tuple[nn.Module, nn.Module]], seed: int):
    """Fill a materialised (sharded) model with the values `GPT(config)` gives after
    torch.manual_seed(seed): first the RNG draws of each module's own constructor (discarded),
    then GPT's init (model._init_weights; norms reset), parameter by parameter, each drawn
    whole on CPU and copied into this rank's shard."""
    torch.manual_seed(seed)
    for _, template in templates:  # the constructors' draws, as GPT.__init__ makes them
        copy.deepcopy(template).to_empty(device="cpu").reset_parameters()
    for module, template in templates:
        full = copy.deepcopy(template).to_empty(device="cpu")
        if isinstance(full, (nn.Linear, nn.Embedding)):
            model._init_weights(full)
        else:
            full.reset_parameters()
        with torch.no_grad():
            for name, p in module.named_parameters(recurse=False):
                value = getattr(full, name)
                if isinstance(p, DTensor):
                    p.to_local().copy_(distribute_tensor(value, p.device_mesh, p.placements,
                                                         src_data_rank=None).to_local())
                else:
                    p.copy_(value)
    if model.config.pos_emb == "rope":  # non-persistent buffers, computed not drawn
        cos, sin = rope_tables(model.config)
        model.rope_cos.copy_(cos)
        model.rope_sin.copy_(sin)
