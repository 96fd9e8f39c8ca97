"""The baseline train.py's model and optimiser, built in-process from its definitions."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from hpdream_runner.training import baseline_train_py, get_preset, load_definitions
from hpdream_runner.training._evaluate import causal_leak


def definitions(preset: str = "seed", **constants: Any) -> dict[str, Any]:
    ns = load_definitions(baseline_train_py(preset))
    ns.update(constants)  # as overrides do, before the model is built
    return ns


def build(ns: dict[str, Any], vocab: int, seq: int, *, init: bool = True) -> Any:
    # (on the CPU: the meta device would be cheaper in memory, but its first use imports
    # torch._dynamo, three seconds)
    model = ns["GPT"](ns["build_config"](vocab, seq))
    if init:
        model.init_weights()
    return model


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_seed_preset_has_11_5m_parameters() -> None:
    p = get_preset("seed")
    model = build(definitions("seed"), p.vocab_size, p.seq_len, init=False)
    C, V = 256, 8192
    embeddings = 2 * V * C  # token embedding and the untied head
    value_embeddings = 2 * V * C  # layers 1 and 3 of 4
    blocks = 4 * (4 * C * C + 2 * 4 * C * C) + 2 * 32 * 2  # attention, MLP, two gates
    scalars = 2 * 4
    assert count(model) == embeddings + value_embeddings + blocks + scalars == 11_534_472
    assert round(count(model) / 1e6, 1) == 11.5
    assert sorted(model.value_embeds.keys()) == ["1", "3"]


def test_depth8_preset_has_50_3m_parameters() -> None:
    p = get_preset("depth8")
    model = build(definitions("depth8"), p.vocab_size, p.seq_len, init=False)
    assert round(count(model) / 1e6, 1) == 50.3
    assert model.config.n_embd == 512 and model.config.n_head == 4


def synthetic_batches(vocab: int, seq: int, rows: int, seed: int = 0) -> torch.Tensor:
    """Token streams with structure a small model learns within steps: repeating phrases."""
    g = torch.Generator().manual_seed(seed)
    phrases = torch.randint(1, vocab, (8, 8), generator=g)
    picks = torch.randint(0, 8, (rows, (seq + 1) // 8 + 1), generator=g)
    return phrases[picks].reshape(rows, -1)[:, : seq + 1]


def train_tiny(steps: int, **constants: Any) -> tuple[Any, list[float], torch.Tensor]:
    torch.manual_seed(0)
    p = get_preset("smoke")
    ns = definitions("smoke", **constants)
    model = build(ns, p.vocab_size, p.seq_len)
    optimizer = ns["build_optimizer"](model, device=torch.device("cpu"), ortho_dtype=torch.float32)
    data = synthetic_batches(p.vocab_size, p.seq_len, 8)
    x, y = data[:, :-1], data[:, 1:]
    losses = []
    for step in range(steps):
        loss = model(x, y)
        loss.backward()
        progress = step / steps
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"] * ns["lr_multiplier"](progress)
        for group in optimizer.muon_groups:
            group["momentum"] = ns["muon_momentum"](step)
            group["weight_decay"] = ns["weight_decay"](progress)
        optimizer.step()
        model.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return model, losses, x


def test_tiny_model_loss_falls_within_a_few_steps() -> None:
    _, losses, _ = train_tiny(12)
    assert losses[0] == pytest.approx(
        torch.log(torch.tensor(512.0)).item(), abs=0.3
    )  # uniform start
    assert losses[-1] < 0.6 * losses[0], losses
    assert all(torch.isfinite(torch.tensor(losses)))


def test_trained_model_is_causal_with_windows_and_grouped_queries() -> None:
    model, losses, x = train_tiny(6, DEPTH=2, WINDOW_PATTERN="SL", HEAD_DIM=16, KV_GROUP=2)
    assert model.config.n_head == 8 and model.config.n_kv_head == 4
    assert model.windows == [32, 64]
    assert losses[-1] < losses[0]
    assert causal_leak(model, x[:2], model.config.vocab_size) < 1e-4
    logits = model(x)
    assert logits.shape == (*x.shape, model.config.vocab_size)
    assert logits.abs().max() <= model.config.softcap


def test_sliding_window_mask_limits_the_look_back() -> None:
    ns = definitions("smoke", WINDOW_PATTERN="S", DEPTH=2)
    model = build(ns, 512, 8)
    assert model.windows == [4, 8]  # the last layer always sees everything
    mask = model.window_mask_4
    for i in range(8):
        allowed = [j for j in range(8) if mask[i, j]]
        assert allowed == list(range(max(0, i - 3), i + 1))


@pytest.mark.parametrize("shape", [(3, 16, 16), (2, 64, 16), (2, 16, 64)])
def test_polar_express_orthogonalises(shape: tuple[int, int, int]) -> None:
    ns = definitions()
    torch.manual_seed(1)
    g = torch.randn(*shape)
    out = ns["orthogonalize"](g, 5, torch.float32)
    assert out.shape == g.shape
    singular = torch.linalg.svdvals(out)
    assert singular.min() > 0.6 and singular.max() < 1.3, singular
    # same singular vectors as g: out is close to U V^T
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    assert torch.nn.functional.cosine_similarity((u @ vh).flatten(1), out.flatten(1)).min() > 0.95


def test_muon_update_cautious_weight_decay() -> None:
    ns = definitions()
    # a 1-row "matrix" whose orthogonalised update is +c in both entries
    p1 = torch.nn.Parameter(torch.tensor([[1.0, -1.0]]))
    p1.grad = torch.tensor([[1.0, 1.0]])
    zero = torch.zeros(())
    buf, moment = torch.zeros(1, 1, 2), torch.zeros(1, 1, 2)
    with torch.no_grad():
        ns["muon_update"](
            [p1],
            buf,
            moment,
            zero,
            torch.tensor(0.1),
            torch.tensor(0.5),
            torch.tensor(0.0),
            5,
            torch.float32,
        )
    # entry 0: update and weight have the same sign -> decayed; entry 1: opposite sign -> not decayed
    step = 1.0 - p1.detach()[0, 0].item()
    step_other = -1.0 - p1.detach()[0, 1].item()
    assert step == pytest.approx(step_other + 0.1 * 0.5 * 1.0, rel=1e-4)


def test_schedules_follow_the_budget_fraction() -> None:
    ns = definitions()
    lr = ns["lr_multiplier"]
    assert [lr(0.0), lr(0.5), lr(0.75), lr(1.0)] == [1.0, 1.0, 0.5, 0.0]
    ns["WARMUP_RATIO"], ns["FINAL_LR_FRAC"] = 0.1, 0.2
    assert lr(0.05) == pytest.approx(0.5)
    assert lr(1.0) == pytest.approx(0.2)
    momentum = ns["muon_momentum"]
    assert [momentum(0), momentum(150), momentum(300), momentum(10_000)] == pytest.approx(
        [0.85, 0.90, 0.95, 0.95]
    )
    assert ns["weight_decay"](0.25) == pytest.approx(0.15)


def test_optimizer_groups_cover_every_parameter_once() -> None:
    ns = definitions("smoke")
    model = build(ns, 512, 64)
    optimizer = ns["build_optimizer"](model, device=torch.device("cpu"), ortho_dtype=torch.float32)
    seen = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())
    assert all(p.ndim == 2 for g in optimizer.muon_groups for p in g["params"])
    assert all("initial_lr" in g for g in optimizer.param_groups)
