"""The trainer's small parts: window sampler, validation windows and byte counts, config
overrides and presets, schedules (in steps and on a time budget), optimizer grouping,
checkpoint pruning."""

import hashlib
import json

import numpy as np
import pytest
import torch

from cc2gpt.model import GPT, preset
from cc2gpt.train.checkpoint import list_checkpoints, load_latest, save_checkpoint
from cc2gpt.train.cli import parse_args as parse_train
from cc2gpt.train.cli import resolve_config
from cc2gpt.train.config import (PRESET_DIR, TrainConfig, apply_overrides, batch_split, fit_micro_batch,
                          load_preset)
from cc2gpt.train.data import Sampler, Windows, eval_windows, target_bytes
from cc2gpt.train import TrainingError
from cc2gpt.train.optim import Muon, build_optimizer, orthogonalise
from cc2gpt.train.run import run_tokenizer_path
from cc2gpt.train.schedule import lr_at
from cc2gpt.train.setup import check_tokenizer, write_run_dir


def windows(block=4):
    # shards of 23 and 10 tokens: 5 and 2 windows of 5 tokens (starting every 4 tokens)
    return Windows([np.arange(23, dtype=np.uint16), np.arange(100, 110, dtype=np.uint16)], block)


def test_windows_cover_each_target_once():
    w = windows()
    assert len(w) == 7
    batch = w.gather(range(7))
    assert batch.shape == (7, 5)
    assert batch[0].tolist() == [0, 1, 2, 3, 4] and batch[4].tolist() == [16, 17, 18, 19, 20]
    assert batch[5].tolist() == [100, 101, 102, 103, 104]
    targets = batch[:, 1:].flatten().tolist()
    assert len(set(targets)) == len(targets)


def test_each_epoch_is_a_seeded_permutation():
    s = Sampler(windows(), seed=3)
    epoch0, epoch1 = s.indices(0, 7), s.indices(7, 7)
    assert sorted(epoch0) == sorted(epoch1) == list(range(7))
    assert epoch0 != epoch1  # reshuffled per epoch
    assert Sampler(windows(), seed=3).indices(0, 14) == epoch0 + epoch1
    assert Sampler(windows(), seed=4).indices(0, 7) != epoch0


@pytest.mark.parametrize("world", [2, 4])
def test_global_batch_is_independent_of_the_number_of_processes(world):
    def step_rows(world, rank):
        s = Sampler(windows(), seed=0, position=5)  # crosses the epoch boundary
        return [row.tolist() for w in s.next_step(8, 1, rank, world) for row in w]

    single = step_rows(1, 0)
    ranks = [step_rows(world, r) for r in range(world)]
    assert sorted(sum(ranks, [])) == sorted(single)
    assert all(len(r) == 8 // world for r in ranks)


def test_sampler_state_is_the_position():
    a = Sampler(windows(), seed=1)
    a.next_step(4, 2, 0, 1)
    rest = [w.tolist() for w in a.next_step(4, 2, 0, 1)]
    b = Sampler(windows(), seed=1, position=a.position - 4)
    assert [w.tolist() for w in b.next_step(4, 2, 0, 1)] == rest


def test_a_batch_is_gathered_from_every_shard_in_sampler_order():
    w = windows()
    picked = [6, 0, 5, 3]  # shard 1, shard 0, shard 1, shard 0
    assert w.gather(picked).tolist() == [[104, 105, 106, 107, 108], [0, 1, 2, 3, 4],
                                         [100, 101, 102, 103, 104], [12, 13, 14, 15, 16]]
    assert w.gather(picked).dtype == torch.int64 and w.gather([]).shape == (0, 5)


@pytest.mark.parametrize("world, micro", [(1, 8), (2, 4), (4, 2), (8, 1)])
def test_micro_batch_fits_the_world_size_and_keeps_the_global_batch(world, micro):
    tiny = TrainConfig.from_dict(load_preset("gpt2-tiny"))  # 2048 tokens: 8 windows of 256
    fitted = fit_micro_batch(tiny, world)
    assert fitted.micro_batch_size == micro and tiny.micro_batch_size == 8
    assert fitted.tokens_per_step == tiny.tokens_per_step
    assert batch_split(fitted, world) == (8, 1)
    if world > 1:  # the preset's own 8 do not fit: 8 x world processes > 8 windows
        with pytest.raises(ValueError, match="must be a multiple of"):
            batch_split(tiny, world)


def test_micro_batch_is_the_largest_divisor_not_above_the_preset():
    cfg = TrainConfig(tokens_per_step=12 * 256, micro_batch_size=5)  # 12 windows of 256
    assert fit_micro_batch(cfg, 1).micro_batch_size == 4  # not 5: 12 = 3 x 4
    assert batch_split(fit_micro_batch(cfg, 1), 1) == (12, 3)
    assert fit_micro_batch(cfg, 3).micro_batch_size == 4  # 4 windows per process
    assert fit_micro_batch(cfg, 5) is cfg  # 12 windows do not split over 5 processes
    with pytest.raises(ValueError, match=r"processes \(5\)"):
        batch_split(cfg, 5)


def test_cli_fits_a_presets_micro_batch_but_keeps_the_users(tmp_path):
    def resolved(*extra, world):
        args = parse_train(["--data", "OUT", "--preset", "tiny", "--out", str(tmp_path), *extra])
        return resolve_config(args, world_size=world).micro_batch_size

    assert resolved(world=2) == 4
    assert resolved("--set", "micro_batch_size=8", world=2) == 8  # the trainer refuses it
    assert resolved("--set", "micro_batch_size=2", world=2) == 2


def test_overrides_are_typed_and_checked():
    d = apply_overrides(load_preset("gpt2-tiny"), ["model.n_layer=2", "lr=1", "schedule=wsd", "compile=true"])
    cfg = TrainConfig.from_dict(d)
    assert cfg.model["n_layer"] == 2 and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.schedule == "wsd" and cfg.compile is True
    for bad, message in [("lr=fast", "expected a float"), ("nope=1", "no field 'nope'"),
                         ("model.depth=3", "no field 'depth'"), ("max_steps", "key=value")]:
        with pytest.raises(ValueError, match=message):
            apply_overrides(d, [bad])
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig.from_dict(apply_overrides(d, ["schedule=linear"]))


def test_presets_resolve():
    for path in PRESET_DIR.glob("*.json"):
        cfg = TrainConfig.from_dict(json.loads(path.read_text()))
        assert cfg.model_config(vocab_size=1000).vocab_size == 1024  # padded to 64
    gpt2 = TrainConfig.from_dict(load_preset("gpt2-124m"))
    mc = gpt2.model_config(50257)
    assert (mc.n_layer, mc.n_embd, mc.block_size, mc.vocab_size) == (12, 768, 1024, 50304)
    assert gpt2.tokens_per_step == 524288 and gpt2.lr == 6e-4 and gpt2.warmup_steps == 700
    assert gpt2.weight_decay == 0.1 and gpt2.dtype == "bf16" and gpt2.compile


def test_schedules():
    cos = TrainConfig(max_steps=110, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(0, cos) == pytest.approx(0.1) and lr_at(9, cos) == pytest.approx(1.0)
    assert lr_at(59, cos) == pytest.approx(0.55, abs=0.01) and lr_at(109, cos) == pytest.approx(0.1)
    lrs = [lr_at(s, cos) for s in range(10, 110)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    wsd = TrainConfig(max_steps=110, warmup_steps=10, lr=1.0, min_lr_ratio=0.0, schedule="wsd",
                      decay_fraction=0.2)
    assert all(lr_at(s, wsd) == 1.0 for s in range(10, 87))
    assert lr_at(98, wsd) == pytest.approx(0.5, abs=0.05) and lr_at(109, wsd) == 0.0


def test_time_budget_schedules_follow_the_fraction_spent():
    cos = TrainConfig(max_steps=10**6, max_time=100.0, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(3, cos, elapsed=50.0) == pytest.approx(0.4)  # warmup stays in steps
    assert lr_at(10, cos, elapsed=0.0) == pytest.approx(1.0)
    assert lr_at(10, cos, elapsed=50.0) == pytest.approx(0.55)
    assert lr_at(10, cos, elapsed=100.0) == lr_at(10, cos, elapsed=250.0) == pytest.approx(0.1)
    wsd = TrainConfig(max_steps=10**6, max_time=100.0, warmup_steps=0, lr=1.0, min_lr_ratio=0.0,
                      schedule="wsd", decay_fraction=0.2)
    assert lr_at(500, wsd, elapsed=79.9) == 1.0 and lr_at(5, wsd, elapsed=90.0) == pytest.approx(0.5)
    assert lr_at(5, wsd, elapsed=100.0) == 0.0
    assert lr_at(109, TrainConfig(max_steps=110, warmup_steps=10), elapsed=5.0) == pytest.approx(1e-4)


def test_validation_windows_spread_over_the_split():
    w = Windows([np.zeros(4001, dtype=np.uint16)], 4)  # 1000 windows
    picked = eval_windows(w, 40)  # 10 windows
    assert picked == eval_windows(w, 40) and len(picked) == 10
    assert picked[0] == 0 and picked[-1] == 999 and all(90 <= b - a <= 130 for a, b in zip(picked, picked[1:]))
    assert eval_windows(w, 0) == eval_windows(w, 10**9) == list(range(1000))


def test_bits_per_byte_counts_every_byte_exactly(out_dir):
    """piece_bytes summed over a text's tokens is the text's UTF-8 length, including
    characters split into byte-fallback pieces and windows cutting them apart."""
    from cc2gpt.tokenizer import Tokenizer

    tok = Tokenizer.from_file(out_dir / "tokenizer/tokenizer.model")
    nbytes = tok.piece_bytes()
    text = "Thou art — naïve, 東京 café ⌘ ok?\n" * 5
    ids = tok.encode(text) + [tok.eos_id]
    assert int(nbytes[ids].sum()) == len(text.encode("utf-8")) and nbytes[tok.eos_id] == 0
    w = Windows([np.array([tok.eos_id] + ids, dtype=np.uint16)], 7)
    assert target_bytes(w, list(range(len(w))), nbytes) == int(nbytes[ids[:len(w) * 7]].sum())


def test_weight_decay_on_matrices_only():
    model = GPT(preset("gpt2-tiny", n_layer=1, n_embd=32, n_head=2, vocab_size=64, block_size=16))
    opt = build_optimizer(model, TrainConfig(weight_decay=0.1), "cpu")
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == model.num_params(False)


def test_muon_takes_the_blocks_matrices_adamw_the_rest():
    model = GPT(preset("tiny", n_layer=2, n_embd=32, n_head=2, vocab_size=64, block_size=16))
    cfg = TrainConfig(optimizer="muon", lr=0.004, muon_lr=0.02, weight_decay=0.1)
    opt = build_optimizer(model, cfg, "cpu")
    muon = [g for g in opt.param_groups if g["muon"]]
    assert isinstance(opt, Muon) and len(muon) == 1 and muon[0]["lr_scale"] == pytest.approx(5)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in muon[0]["params"]) == sorted(
        n for n, p in model.named_parameters() if p.dim() == 2 and n.startswith("transformer.h."))
    assert {"transformer.wte.weight", "lm_head.weight"} <= {
        names[id(p)] for g in opt.param_groups if not g["muon"] for p in g["params"]}
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == model.num_params(False)
    x = torch.randint(0, 64, (4, 17))
    losses = []
    for _ in range(8):
        loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.5


@pytest.mark.parametrize("shape", [(96, 32), (32, 96)])
def test_orthogonalise_flattens_the_spectrum_keeping_the_directions(shape):
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    o = orthogonalise(g)
    s = torch.linalg.svdvals(o)
    assert o.shape == g.shape and s.min() > 0.5 and s.max() < 1.3  # S' ~ 1, not g's spread
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    assert torch.nn.functional.cosine_similarity((u @ vh).flatten(), o.flatten(), 0) > 0.95


def test_checkpoints_keep_the_last_k(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint(tmp_path, step, {"step": step, "w": torch.ones(2) * step}, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [3, 4]
    path, state = load_latest(tmp_path)
    assert state["step"] == 4 and path.name == "step_00000004.pt"
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))


@pytest.mark.parametrize("name", ["tokenizer.model", "tokenizer.json"])
def test_run_keeps_its_tokenizer_under_its_own_kind_and_checks_it(tmp_path, name):
    """A tokenizer.json stays tokenizer.json in RUN (a reader picks the tokenizer kind by its
    name), and a resume on data with another tokenizer is refused naming the run's copy."""
    data = tmp_path / "OUT"
    (data / "tokenizer").mkdir(parents=True)
    tok = data / "tokenizer" / name
    tok.write_bytes(b"the data's tokenizer")
    manifest = {"tokenizer": {"path": f"tokenizer/{name}",
                              "sha256": hashlib.sha256(tok.read_bytes()).hexdigest()}}
    run = tmp_path / "RUN"
    write_run_dir(run, TrainConfig(), tok)
    assert run_tokenizer_path(run) == run / name
    assert check_tokenizer(data, manifest, run, None) == tok
    tok.write_bytes(b"another tokenizer")
    manifest["tokenizer"]["sha256"] = hashlib.sha256(tok.read_bytes()).hexdigest()
    with pytest.raises(TrainingError, match=f"RUN/{name}"):
        check_tokenizer(data, manifest, run, None)
