"""The evaluation: validation bits per byte, and a check that the model is causal.

val_bpb = (sum of the cross-entropy, in nats, of every scored target token)
/ (ln 2 * sum of the UTF-8 bytes of those tokens). Special tokens (0 bytes)
and ignored targets (id -1) are left out of both sums. Dividing by bytes
instead of tokens makes the number independent of the tokenizer.

The harness computes the cross-entropy itself from the logits the model
returns for the inputs alone (``model(idx) -> (B, T, vocab)``): the model
never sees the targets, so it cannot bend the score. What it could still do
is look ahead inside the input (position t+1 of the input is the target of
position t); :func:`causal_leak` catches that by changing the second half of
a sequence and checking that the first half's logits stay put.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import torch
import torch.nn.functional as F


class EvaluationError(RuntimeError):
    """The model broke the evaluation's contract (wrong logits shape, no batches)."""


@attrs.frozen
class BpbResult:
    """The outcome of :func:`evaluate_bpb`."""

    bpb: float
    nats: float  # summed cross-entropy of the scored tokens
    bytes: int  # summed UTF-8 bytes of the scored tokens
    tokens: int  # target positions seen (scored or not)
    batches: int


def evaluate_bpb(
    model: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    token_bytes: torch.Tensor,
    *,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> BpbResult:
    """Bits per byte of ``model`` over ``batches`` of (inputs, targets), each (B, T).

    ``token_bytes[i]`` is the UTF-8 length of token ``i`` (0 for special tokens),
    on the batches' device. Sums stay on the device until the end (one sync).
    """
    vocab = token_bytes.numel()
    nats_parts: list[torch.Tensor] = []
    bytes_parts: list[torch.Tensor] = []
    tokens = count = 0
    with torch.no_grad():
        for x, y in batches:
            with autocast():
                logits = model(x)
            if not isinstance(logits, torch.Tensor) or logits.shape != (*y.shape, vocab):
                shape = (
                    tuple(logits.shape)
                    if isinstance(logits, torch.Tensor)
                    else type(logits).__name__
                )
                raise EvaluationError(
                    f"model(idx) must return logits of shape (B, T, vocab) = {(*y.shape, vocab)}, "
                    f"got {shape}"
                )
            targets = y.flatten()
            valid = targets >= 0
            safe = targets.clamp_min(0)
            nll = F.cross_entropy(logits.flatten(0, 1).float(), safe, reduction="none")
            nbytes = token_bytes[safe] * valid
            scored = nbytes > 0
            # where() rather than a product: a non-finite loss on an unscored token must not count
            nats_parts.append(torch.where(scored, nll, torch.zeros_like(nll)).sum())
            bytes_parts.append(nbytes.sum())
            tokens += targets.numel()
            count += 1
    if count == 0:
        raise EvaluationError("the evaluation got no batches")
    nats = float(torch.stack(nats_parts).double().cpu().sum())
    nbytes_total = int(torch.stack(bytes_parts).cpu().sum())
    if nbytes_total == 0:
        raise EvaluationError("the evaluation batches hold no scored bytes (only special tokens)")
    return BpbResult(
        bpb=nats / (math.log(2) * nbytes_total),
        nats=nats,
        bytes=nbytes_total,
        tokens=tokens,
        batches=count,
    )


def causal_leak(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    vocab_size: int,
    *,
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
) -> float:
    """Largest change of the logits at positions < T/2 when every token from T/2 on changes.

    0 for a causal model (up to rounding); a model that reads later inputs
    shows changes of the order of its logits.
    """
    T = x.size(1)
    cut = max(1, T // 2)
    changed = x.clone()
    changed[:, cut:] = (
        x[:, cut:] + 1 + torch.randint_like(x[:, cut:], vocab_size - 1)
    ) % vocab_size
    with torch.no_grad(), autocast():
        before = model(x)[:, :cut].float()
        after = model(changed)[:, :cut].float()
    return float((before - after).abs().max())
