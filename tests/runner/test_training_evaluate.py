"""evaluate_bpb against a hand computation, and the causality check."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hpdream_runner.training._evaluate import EvaluationError, causal_leak, evaluate_bpb

VOCAB = 4
# token 0 is a special token (0 bytes); the others are 1, 2 and 3 bytes long
TOKEN_BYTES = torch.tensor([0, 1, 2, 3])


class FixedLogits(torch.nn.Module):
    """Logits depending only on the current input token: row ``table[x_t]``."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.table[idx]  # (B, T, vocab)


def hand_bpb(
    table: list[list[float]], batches: list[tuple[list[list[int]], list[list[int]]]]
) -> float:
    nats = 0.0
    nbytes = 0
    for xs, ys in batches:
        for x_row, y_row in zip(xs, ys, strict=True):
            for x, y in zip(x_row, y_row, strict=True):
                if y < 0 or TOKEN_BYTES[y] == 0:
                    continue
                logits = table[x]
                log_z = math.log(sum(math.exp(v) for v in logits))
                nats += log_z - logits[y]
                nbytes += int(TOKEN_BYTES[y])
    return nats / math.log(2) / nbytes


TABLE = [
    [0.0, 0.0, 0.0, 0.0],
    [1.0, 2.0, -1.0, 0.5],
    [0.0, 3.0, 1.0, -2.0],
    [-1.0, 0.0, 0.0, 4.0],
]


def test_matches_a_hand_computation() -> None:
    batches = [
        ([[1, 2, 3], [3, 3, 1]], [[2, 3, 1], [3, 0, 2]]),  # one special target (0)
        ([[2, 1, 0], [0, 0, 1]], [[1, 0, 3], [-1, 1, 1]]),  # and an ignored one (-1)
    ]
    model = FixedLogits(torch.tensor(TABLE))
    result = evaluate_bpb(
        model, [(torch.tensor(x), torch.tensor(y)) for x, y in batches], TOKEN_BYTES
    )
    assert result.bpb == pytest.approx(hand_bpb(TABLE, batches), rel=1e-6)
    assert result.tokens == 12 and result.batches == 2
    # bytes: 2+3+1 + 3+2 + 1+3 + 1+1 = 17 (the special and the ignored target add nothing)
    assert result.bytes == 17


def test_uniform_model_gives_log2_vocab_bits_per_token() -> None:
    model = FixedLogits(torch.zeros(VOCAB, VOCAB))
    y = torch.tensor([[1, 1, 1, 1]])  # one-byte tokens only
    result = evaluate_bpb(model, [(y.clone(), y)], TOKEN_BYTES)
    assert result.bpb == pytest.approx(math.log2(VOCAB))


@settings(max_examples=30)
@given(
    st.lists(
        st.lists(st.floats(-5, 5), min_size=VOCAB, max_size=VOCAB), min_size=VOCAB, max_size=VOCAB
    ),
    st.lists(
        st.tuples(st.integers(0, VOCAB - 1), st.integers(1, VOCAB - 1)), min_size=1, max_size=30
    ),
)
def test_matches_the_hand_computation_for_any_table(
    table: list[list[float]], pairs: list[tuple[int, int]]
) -> None:
    xs, ys = [[x for x, _ in pairs]], [[y for _, y in pairs]]
    model = FixedLogits(torch.tensor(table, dtype=torch.float64))
    result = evaluate_bpb(model, [(torch.tensor(xs), torch.tensor(ys))], TOKEN_BYTES)
    assert result.bpb == pytest.approx(
        hand_bpb(table, [(xs, ys)]), rel=1e-6, abs=1e-6
    )  # float32 inside


def test_wrong_logit_shapes_are_refused() -> None:
    x = torch.tensor([[1, 2]])

    def loss_not_logits(idx: torch.Tensor) -> torch.Tensor:
        return torch.tensor(0.5)

    with pytest.raises(EvaluationError, match=r"must return logits of shape \(B, T, vocab\)"):
        evaluate_bpb(loss_not_logits, [(x, x)], TOKEN_BYTES)
    with pytest.raises(EvaluationError, match="no batches"):
        evaluate_bpb(FixedLogits(torch.zeros(VOCAB, VOCAB)), [], TOKEN_BYTES)
    with pytest.raises(EvaluationError, match="no scored bytes"):
        zeros = torch.zeros(1, 2, dtype=torch.long)
        evaluate_bpb(FixedLogits(torch.zeros(VOCAB, VOCAB)), [(zeros, zeros)], TOKEN_BYTES)


class PeekAhead(torch.nn.Module):
    """Cheats: predicts position t from input t+1 (which is target t)."""

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        nxt = torch.roll(idx, -1, dims=1)
        return 10.0 * torch.nn.functional.one_hot(nxt, VOCAB).float()


class CausalMean(torch.nn.Module):
    """Honest: logits from the running mean of the inputs so far."""

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(idx, VOCAB).float()
        steps = torch.arange(1, idx.size(1) + 1).view(1, -1, 1)
        return onehot.cumsum(1) / steps


def test_causal_leak_tells_cheats_from_honest_models() -> None:
    torch.manual_seed(0)
    x = torch.randint(0, VOCAB, (2, 16))
    assert causal_leak(CausalMean(), x, VOCAB) == 0.0
    assert causal_leak(PeekAhead(), x, VOCAB) >= 10.0
    # the cheat would look brilliant to the evaluation: that is what the check is for
    y = torch.roll(x, -1, dims=1)
    assert evaluate_bpb(PeekAhead(), [(x[:, :-1], y[:, :-1])], TOKEN_BYTES).bpb < 0.01
