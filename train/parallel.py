"""Parallelism applied to the model from outside (torchtitan's split: model/ knows nothing
of it): tensor parallelism, activation checkpointing, torch.compile and FSDP2 sharding, in
torchtitan's order (TP, AC, compile, FSDP), and initialisation on the meta device.

Tensor parallelism (cfg.tp ranks per model replica, on the "tp" axis of a (dp, tp) device
mesh; FSDP shards over "dp"): in every block the q/k/v and MLP input projections are split
by output columns and the two output projections by input rows (Megatron's layout), so a
block needs one all-reduce in its forward and one in its backward for attention and for the
MLP; each rank computes n_head / tp whole heads. The embedding, the norms and the head stay
whole on every tensor-parallel rank (no sequence parallelism: with TP inside a node their
activations are the smaller part). c_attn holds [q; k; v] in one matrix (and SwiGLU's c_fc
[gate; up]): a plain column split would give rank 0 all of q and half of k. Its placement is
instead torch's _StridedShard(0, split_factor=3): the matrix is read as three equal parts and
each part is split over the ranks, so rank r holds [q_r; k_r; v_r], its own heads' rows of
each, and the tensor keeps its one name and layout, so checkpoints and Hugging Face export are
unchanged. The three parts must be equal, so grouped-query attention (n_kv_head < n_head)
is refused with tp > 1. DCP cannot describe a strided shard as one chunk, so checkpoints
store those tensors as plain row shards (`checkpoint_state`), converted on the way in and out.

With sharded weights (FSDP) the model is built on the `meta` device (shapes, no memory),
wrapped and sharded there, and only then materialised: each rank allocates its own shards
and fills them (`init_weights`), so no rank ever holds the whole model. The values are the
ones an unsharded build gives for the same seed: each parameter is drawn whole on CPU, in
the order and from the RNG stream GPT's constructor uses, and each rank keeps its shard of
it (one parameter at a time is whole, never the model).
"""

import copy

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Shard, distribute_tensor
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module
from torch.distributed.tensor.placement_types import _StridedShard
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

from cc2gpt.model import GPT, GPTConfig
from cc2gpt.model.gpt import rope_tables

from . import distributed as dist_utils
from .config import TrainConfig, data_parallel_size

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


class FusedColwiseParallel(ColwiseParallel):
    """ColwiseParallel for a Linear whose output stacks `parts` equal matrices ([q; k; v],
    [gate; up]): each part is split over the ranks, so a rank's output columns are its share
    of every part, in order."""

    def __init__(self, parts: int):
        super().__init__()
        self.parts = parts

    def _partition_linear_fn(self, name, module, device_mesh):
        placement = [_StridedShard(0, split_factor=self.parts)]
        for pname, p in list(module.named_parameters(recurse=False)):
            module.register_parameter(pname, nn.Parameter(distribute_tensor(p, device_mesh, placement)))

    @staticmethod
    def _prepare_output_fn(output_layouts, use_local_output, mod, outputs, device_mesh):
        # the local columns as computed, [q_r; k_r; v_r]: ColwiseParallel would first
        # redistribute them to a plain column split (rank 0: all of q, half of k)
        return outputs.to_local()


def apply_tp(model: GPT, mesh):
    """Megatron-style tensor parallelism of every block over `mesh` (see the module doc);
    the attention modules are told their local head counts and q/k/v widths."""
    c, tp = model.config, mesh.size()
    if c.n_head % tp or c.kv_heads != c.n_head:
        raise ValueError(f"tp={tp} needs n_head ({c.n_head}) divisible by tp and no grouped-query "
                         f"attention (n_kv_head {c.kv_heads} != n_head): the fused [q; k; v] "
                         "projection is split as three equal parts")
    if c.hidden_dim % tp:
        raise ValueError(f"tp={tp} does not divide the MLP width {c.hidden_dim}")
    for block in model.transformer.h:
        parallelize_module(block, mesh, {
            "attn.c_attn": FusedColwiseParallel(3),
            "attn.c_proj": RowwiseParallel(),
            "mlp.c_fc": FusedColwiseParallel(2) if c.mlp == "swiglu" else ColwiseParallel(),
            "mlp.c_proj": RowwiseParallel(),
        })
        attn = block.attn
        attn.n_head, attn.n_kv_head = attn.n_head // tp, attn.n_kv_head // tp
        attn.splits = tuple(n // tp for n in attn.splits)


def apply_fsdp(model: GPT, mesh=None):
    """FSDP2: each block a unit (its weights gathered for its forward and backward only),
    then the root (embedding, final norm, head)."""
    from torch.distributed.fsdp import fully_shard

    for block in model.transformer.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)


def build_model(cfg: TrainConfig, d: dist_utils.Dist) -> tuple[GPT, nn.Module]:
    """The model initialised from cfg.seed on the run's device and the same model as
    training calls it: bare, DDP-wrapped, FSDP-sharded and/or tensor-parallel, with
    activation checkpointing and compile as cfg asks. Sharded runs build on the meta device
    first (cfg.meta_init)."""
    config = GPTConfig(**cfg.model)
    dp = data_parallel_size(cfg, d.world_size)
    if cfg.tp > 1 and dp > 1 and cfg.parallel != "fsdp":
        raise ValueError("tp > 1 with data parallelism needs parallel=fsdp (FSDP x TP)")
    mesh = (init_device_mesh(d.device.type, (dp, cfg.tp), mesh_dim_names=("dp", "tp"))
            if cfg.tp > 1 else None)
    sharded = d.enabled and (cfg.parallel == "fsdp" or cfg.tp > 1)
    meta = sharded and cfg.meta_init
    torch.manual_seed(cfg.seed)
    with torch.device("meta" if meta else "cpu"):  # drawn on CPU whatever the device
        model = GPT(config)
    if not meta:
        model.to(d.device)
    templates = leaf_templates(model) if meta else None
    if mesh is not None:
        apply_tp(model, mesh["tp"])
    apply_ac(model, cfg.activation_checkpointing)
    if cfg.compile and not sharded:
        model.compile()
    elif cfg.compile:  # FSDP shards per block, so compile per block (torchtitan's order)
        for block in model.transformer.h:
            block.compile()
    if d.enabled and cfg.parallel == "fsdp" and dp > 1:
        apply_fsdp(model, mesh["dp"] if mesh is not None else None)
    wrapped = dist_utils.wrap_ddp(model, d) if d.enabled and not sharded else model
    if meta:
        model.to_empty(device=d.device)
        if config.tie_embeddings:  # to_empty gives each module its own new tensor
            model.lm_head.weight = model.transformer.wte.weight
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
                    p.to_local().copy_(local_of(value, p))
                else:
                    p.copy_(value)
    if model.config.pos_emb == "rope":  # non-persistent buffers, computed not drawn
        cos, sin = rope_tables(model.config)
        model.rope_cos.copy_(cos)
        model.rope_sin.copy_(sin)


def _is_strided(t) -> bool:
    return isinstance(t, DTensor) and any(isinstance(p, _StridedShard) for p in t.placements)


def _fsdp_over_fused(t: DTensor) -> bool:
    """FSDP's shards of a FusedColwiseParallel tensor: (dp, tp) placements both strided,
    which DTensor's own redistribution does not lay out as FSDP and TP do."""
    return t.device_mesh.ndim == 2 and isinstance(t.placements[1], _StridedShard)


def local_of(full: torch.Tensor, like: DTensor) -> torch.Tensor:
    """This rank's shard of the whole tensor `full`, laid out as `like`'s: for FSDP over a
    fused tensor-parallel matrix, the tensor-parallel share split in row chunks over dp (as
    FSDP2 splits it, torch.chunk), else DTensor's own distribution."""
    if not _fsdp_over_fused(like):
        return distribute_tensor(full, like.device_mesh, like.placements, src_data_rank=None).to_local()
    mesh, dp = like.device_mesh, like.device_mesh.get_group("dp")
    share = distribute_tensor(full, mesh["tp"], [like.placements[1]], src_data_rank=None).to_local()
    chunks = torch.chunk(share, dp.size(), dim=0)
    return chunks[dp.rank()] if dp.rank() < len(chunks) else share[:0]


def full_of(t: DTensor) -> torch.Tensor:
    """The whole value of DTensor t (a collective over its mesh); inverse of local_of."""
    if not _fsdp_over_fused(t):
        return t.full_tensor()
    mesh, dp = t.device_mesh, t.device_mesh.get_group("dp")
    rows = t.shape[0] // mesh["tp"].size()  # the tensor-parallel share's rows
    per = -(-rows // dp.size())  # FSDP's chunk of them (torch.chunk)
    local = t.to_local()
    padded = local.new_zeros((per, *local.shape[1:]))
    padded[:local.shape[0]] = local
    pieces = [torch.empty_like(padded) for _ in range(dp.size())]
    dist.all_gather(pieces, padded, group=dp)
    share = torch.cat(pieces)[:rows]
    return DTensor.from_local(share, mesh["tp"], [t.placements[1]], run_check=False).full_tensor()


def checkpoint_state(state):
    """A copy of a (nested) state dict with every strided-sharded DTensor (tensor-parallel
    [q; k; v], and FSDP's shards of those) redistributed as plain row shards, which DCP
    stores as chunks; a tensor at a time is gathered whole. Other entries are kept as they are."""
    if isinstance(state, dict):
        return {k: checkpoint_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(checkpoint_state(v) for v in state)
    if _is_strided(state):
        plain = [Shard(p.dim) if isinstance(p, _StridedShard) else p for p in state.placements]
        return distribute_tensor(full_of(state), state.device_mesh, plain, src_data_rank=None)
    return state


def restore_state(loaded, like):
    """Inverse of checkpoint_state: `loaded` (as DCP filled it) with each entry that `like`
    (the model's own state dict) holds strided put back in `like`'s placements."""
    if isinstance(loaded, dict):
        return {k: restore_state(v, like[k]) for k, v in loaded.items()}
    if isinstance(loaded, (list, tuple)):
        return type(loaded)(restore_state(v, w) for v, w in zip(loaded, like))
    if _is_strided(like):
        return DTensor.from_local(local_of(loaded.full_tensor(), like), like.device_mesh,
                                  like.placements, run_check=False, shape=like.shape,
                                  stride=like.stride())
    return loaded


def mesh_of(p: torch.Tensor):
    return p.device_mesh if isinstance(p, DTensor) else None


def split_param_groups(optimizer: torch.optim.Optimizer):
    """Split each parameter group of a fresh optimizer by device mesh (same settings), so
    fused and foreach kernels never mix plain tensors with DTensors or meshes: under TP the
    blocks' matrices are DTensors, the norms and embedding are not (or, with FSDP, live on
    the data-parallel mesh alone)."""
    groups = []
    for group in optimizer.param_groups:
        by_mesh: dict = {}
        for p in group["params"]:
            by_mesh.setdefault(mesh_of(p), []).append(p)
        groups += [{**group, "params": params} for params in by_mesh.values()]
    optimizer.param_groups = groups


def clip_grad_norm_(parameters, max_norm: float) -> torch.Tensor:
    """torch.nn.utils.clip_grad_norm_ for parameters on different device meshes (under
    FSDP x TP the blocks' matrices live on the 2-D mesh, the norms and embedding on the
    data-parallel one): the norm of each mesh's gradients, made whole, then combined."""
    groups: dict = {}
    for p in parameters:
        if p.grad is not None:
            groups.setdefault(mesh_of(p.grad), []).append(p)
    norms = []
    for group in groups.values():
        norm = torch.nn.utils.get_total_norm([p.grad for p in group])
        norms.append(norm.full_tensor() if isinstance(norm, DTensor) else norm)
    total = torch.linalg.vector_norm(torch.stack(norms))
    for group in groups.values():
        torch.nn.utils.clip_grads_with_norm_(group, max_norm, total)
    return total
