"""Parameter changes stated in descriptions: (name, old, new), values as numbers where they are."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import ParamChange, classify, extract_params
from hpdream_core._params import parse_value


def params(text: str, **kw: str) -> list[tuple[str, object, object]]:
    return [(p.name, p.old, p.new) for p in extract_params(text, **kw)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MATRIX_LR=0.06", [("matrix_lr", None, 0.06)]),
        ("lr 0.04->0.05", [("lr", 0.04, 0.05)]),
        ("TOTAL_BATCH_SIZE 2**15 -> 2**16", [("total_batch_size", 32768, 65536)]),
        ("halve total batch size to 2^16", [("total_batch_size", None, 65536)]),
        ("depth 4→6", [("depth", 4, 6)]),
        ("halve batch 524K to 262K (more steps in 5 min)", [("batch", 524000, 262000)]),
        ("warmdown 0.5 to 0.7 (much worse)", [("warmdown", 0.5, 0.7)]),
        ("add 5% warmup", [("warmup", None, 0.05)]),
        ("shorten warmdown to 30 percent", [("warmdown", None, 0.3)]),
        (
            "increase MATRIX_LR from 0.04 to 0.06 to accelerate convergence",
            [("matrix_lr", 0.04, 0.06)],
        ),
        (
            'change WINDOW_PATTERN from "SSSL" to "L" to use full context',
            [("window_pattern", "SSSL", "L")],
        ),
        ("WINDOW_PATTERN SSSL→S", [("window_pattern", "SSSL", "S")]),
        ("SSSSL window pattern (5:1 short:long)", [("window_pattern", None, "SSSSL")]),
        (
            "change ADAM_BETAS from (0.8, 0.95) to (0.9, 0.98)",
            [("adam_betas", "(0.8, 0.95)", "(0.9, 0.98)")],
        ),
        ("increase beta1 in ADAM_BETAS from 0.8 to 0.9", [("beta1", 0.8, 0.9)]),
        ("unembedding learning rate 0.004 -> 0.01", [("unembedding_lr", 0.004, 0.01)]),
        ("Muon WD 0.2 to 0.22", [("muon_weight_decay", 0.2, 0.22)]),
        ("Adam eps 1e-10->1e-8", [("adam_eps", 1e-10, 1e-8)]),
        ("x0_lambda LR 2x", [("x0_lambda_lr", None, "2x")]),
        ("halve value embedding LR", [("value_embedding_lr", None, "0.5x")]),
        ("halve batch again to 2^13", [("batch", None, 8192)]),
        ("MLP hidden 4x to 3.5x", [("mlp_hidden", 4.0, 3.5)]),
        ("short window 1/8 context (256 tokens)", [("short_window", None, 0.125)]),
        ("Increase wallclock from 1200s to 1800s; marginally worse", [("wallclock", 1200, 1800)]),
        ("adam beta2 0.99 instead of 0.95", [("adam_beta2", 0.95, 0.99)]),
        ("MoE matrix_lr=0.10 (from 0.08), worse than baseline", [("matrix_lr", 0.08, 0.1)]),
        ("SDPA scale=1/head_dim: very soft attention", [("sdpa_scale", None, "1/head_dim")]),
        (
            "compile mode=reduce-overhead for CUDA graphs",
            [("compile_mode", None, "reduce-overhead")],
        ),
        (
            "total_batch=65K grad_accum=1, matrix_lr=0.015, 340 steps",
            [("total_batch", None, 65000), ("grad_accum", None, 1), ("matrix_lr", None, 0.015)],
        ),
        (
            "grad clip 1.0 + LR=0.004 no improvement over LR=0.003",
            [("grad_clip", None, 1.0), ("lr", None, 0.004)],
        ),
        (
            "try a wider, shallower model (depth 3, aspect ratio 60) to maintain model dimension (256)",
            [("depth", None, 3), ("aspect_ratio", None, 60)],
        ),
        (
            "increase ASPECT_RATIO from 40 to 70 to increase model width (n_embd) from 256 to 384",
            [("aspect_ratio", 40, 70), ("n_embd", 256, 384)],
        ),
        (
            "Fixed warmdown fraction (0.45 of total time); 56 steps",
            [("warmdown_fraction", None, 0.45)],
        ),
        ("Muon momentum fixed 0.95 no warmup", [("muon_momentum", None, 0.95)]),
        ("6x LR (0.006) no better than 3x", [("lr", None, 0.006)]),
        # a parameter group after the value qualifies the name
        ("add WD 0.01 to lm_head", [("lm_head_weight_decay", None, 0.01)]),
        ("add WD 0.01 to embeddings (hurts)", [("embedding_weight_decay", None, 0.01)]),
        ("lm_head WD 0.01 to 0.05", [("lm_head_weight_decay", 0.01, 0.05)]),
        ("lr 0.04 to 0.05 for embeddings", [("embedding_lr", 0.04, 0.05)]),
        ("LR for matrices 0.04 -> 0.05", [("matrix_lr", 0.04, 0.05)]),
        ("set WD on embeddings to 0.01", [("embedding_weight_decay", None, 0.01)]),
        (
            "weight decay 0.1 for the value embeddings",
            [("value_embedding_weight_decay", None, 0.1)],
        ),
        ("WD 0.1 to attention heads", [("weight_decay", None, 0.1)]),
        ("use lr 0.05 for stability", [("lr", None, 0.05)]),
        ("set final LR frac to 0.1", [("final_lr_frac", None, 0.1)]),
        # chains after "=" and a title that is only a name
        ("MATRIX_LR=0.04->0.05", [("matrix_lr", 0.04, 0.05)]),
        ("lr = 0.04 -> 0.05 -> 0.06", [("lr", 0.04, 0.06)]),
        ("matrix lr: 0.04 -> 0.05", [("matrix_lr", 0.04, 0.05)]),
        ("X scale: 2 to 3", [("x_scale", 2, 3)]),
        ("warmdown: 0.5", [("warmdown", None, 0.5)]),
        ("Result: 0.98 -> 0.97", []),
        ("val_bpb: 0.99 -> 0.98", []),
        ("depth: 4 layers", []),
        ("Sparse MoE MLP: 4 half-sized SwiGLU experts with Top-1 routing", []),
    ],
)
def test_stated_changes(text: str, expected: list[tuple[str, object, object]]) -> None:
    assert params(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # context, not the change: "at", "after", "over", "(from ...)"
        ("MATRIX_LR 0.08->0.06 at DEPTH=3", [("matrix_lr", 0.08, 0.06)]),
        ("lower scalar lr to 0.3 after 3x MLP", [("scalar_lr", None, 0.3)]),
        ("MoE aux_loss=0.001 (from top_k=3), 321 steps", [("aux_loss", None, 0.001)]),
        (
            "DEVICE_BATCH_SIZE 8->16 at D_MODEL=512 (19.4GB, 22.3M tokens)",
            [("device_batch_size", 8, 16)],
        ),
        # "with" qualifies a change that states its own values
        ("embedding WD 0.001 to 0.002 (with LR 0.9)", [("embedding_weight_decay", 0.001, 0.002)]),
        ("depth 3 with 15-min budget", [("depth", None, 3)]),
        ("weight tying with std=0.001 init", [("std", None, 0.001)]),
        # negated: "same", "keep", "instead of", "replacing"
        ("depth 10 same dim 640 (too few steps)", [("depth", None, 10)]),
        ("increase depth from 4 to 6 while maintaining n_embd = 256", [("depth", 4, 6)]),
        (
            "warmup 5% + stable 80% + linear decay 15% replacing cosine warmdown 50%",
            [("warmup", None, 0.05), ("stable", None, 0.8), ("linear_decay", None, 0.15)],
        ),
        # outcomes are not parameters
        ("depth 4->5 (24.6M params)", [("depth", 4, 5)]),
        ("HEAD_DIM=64, 4 heads, 974 steps", [("head_dim", None, 64)]),
        ("DEPTH 12→14 (768→896 dim, 226M params)", [("depth", 12, 14)]),
        ("FP8 training (hypothesis: more tokens): val_bpb 1.218→1.204, MFU 53→55.6%", []),
        ("Gated DeltaNet hybrid 9/12 layers via fla library", []),
        ("remove logit softcap: softcap=15 is useful", []),
        ("WEIGHT_DECAY=0 identical to 0.1 (noise level diff)", [("weight_decay", None, 0)]),
        # an upper-case constant in a remark does count
        (
            "DEPTH 12→14 at same 768 dim (ASPECT_RATIO 64→54, 215M params)",
            [("depth", 12, 14), ("aspect_ratio", 64, 54)],
        ),
        ("ASPECT_RATIO 64→72 (n_embd 768→896, 252M params)", [("aspect_ratio", 64, 72)]),
    ],
)
def test_only_the_change_gives_values(
    text: str, expected: list[tuple[str, object, object]]
) -> None:
    assert params(text) == expected


def test_hypothesis_gives_values_only_without_a_change_part() -> None:
    text = "Hypothesis: smaller batch (2^18→2^16) = more optimizer steps. Evidence: the baseline uses a large batch."
    assert params(text) == [("batch", 262144, 65536)]
    # beside a change, the hypothesis states the current state as often as the new one
    text = "BF16 cross_entropy: removed .float() casts (hypothesis: softcap=15 bounds logits)"
    assert params(text) == []
    assert params("structural change", hypothesis="LR 0.04 is too low") == []
    assert params("Bottleneck: lr.", hypothesis="LR 0.04 -> 0.06 converges faster") == [
        ("lr", 0.04, 0.06)
    ]


def test_baseline_and_reverts() -> None:
    assert params("baseline: batch=32 on an L4") == []
    assert params("Mac Mini baseline with final eval batch size 64") == []
    assert params("revert MATRIX_LR to 0.04") == [("matrix_lr", None, 0.04)]


def test_classify_carries_the_params() -> None:
    label = classify("exp7: DEPTH=6 ASPECT_RATIO=48")
    assert label.params == (ParamChange("depth", None, 6), ParamChange("aspect_ratio", None, 48))


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("2**16", 65536),
        ("2^16", 65536),
        ("2 ** 19", 524288),
        ("262K", 262000),
        ("1.5M", 1500000),
        ("5%", 0.05),
        ("1800s", 1800),
        ("1/8", 0.125),
        ("1e-4", 0.0001),
        ("-1.5", -1.5),
        ("0.5x", "0.5x"),
        ("x2", "2x"),
        ('"SSSL"', "SSSL"),
        ("1/sqrt(d)", "1/sqrt(d)"),
        ("42", 42),
        ("0.040", 0.04),
    ],
)
def test_parse_value(written: str, value: object) -> None:
    got = parse_value(written)
    assert got == value and type(got) is type(value)


@given(st.integers(min_value=0, max_value=10**12))
def test_parse_value_integers(n: int) -> None:
    assert parse_value(str(n)) == n


@given(st.floats(min_value=1e-9, max_value=1e9, allow_nan=False))
def test_parse_value_floats(x: float) -> None:
    assert parse_value(repr(x)) == pytest.approx(x, rel=1e-12)


@given(st.integers(min_value=1, max_value=9), st.integers(min_value=0, max_value=30))
def test_parse_value_powers(base: int, exp: int) -> None:
    assert parse_value(f"{base}**{exp}") == base**exp == parse_value(f"{base}^{exp}")


@given(
    st.sampled_from(["MATRIX_LR", "depth", "warmdown ratio", "WEIGHT_DECAY"]),
    st.integers(1, 999),
    st.integers(1, 999),
)
def test_transition_round_trip(name: str, old: int, new: int) -> None:
    got = extract_params(f"{name} {old} -> {new}")
    assert got == (ParamChange(name.lower().replace(" ", "_"), old, new),)
