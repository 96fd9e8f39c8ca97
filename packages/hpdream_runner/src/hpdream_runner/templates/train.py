# mypy: disable-error-code="union-attr,arg-type,operator,index,misc"
"""A small GPT and its training: the one file of the experiment that you edit.

Anything here may change: the model, the optimiser, the schedules, the
hyperparameters. The harness (``hpdream_runner.training.harness``) owns what
makes experiments comparable, and this file must keep using it:

- ``run = harness.start(globals())`` applies command-line overrides to the
  constants above it and hands out the device, the data and the budget clock;
- ``while run.training(): ... run.step_done(loss)`` lets the harness time
  every step, stop at the budget and end the run on a NaN or exploding loss;
- ``run.finish(model)`` hands the model over: the harness measures val_bpb on
  held-out data and writes the summary. It calls ``model(idx)`` with token ids
  ``(B, T)`` and expects logits ``(B, T, vocab_size)``.

Architecture: pre-norm GPT with RMSNorm, rotary position embeddings, QK-norm,
grouped-query attention with optional sliding windows, value embeddings mixed
in by input-dependent gates, squared-ReLU MLP, per-layer residual and
input-skip scalars, soft-capped logits. Optimiser: Muon (polar-express
orthogonalisation, per-neuron variance normalisation, cautious weight decay)
for the block matrices, AdamW for embeddings, head and scalars. Schedules run
on the fraction of the time budget used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from hpdream_runner.training import harness

# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


@dataclass
class GPTConfig:
    sequence_len: int = 2048  # context length; fixed by the harness so val_bpb stays comparable
    vocab_size: int = 8192  # from the tokenizer the data was prepared with
    n_layer: int = 4
    n_head: int = 2  # query heads
    n_kv_head: int = 2  # key/value heads; fewer than n_head is grouped-query attention
    n_embd: int = 256
    window_pattern: str = "L"  # per layer, repeated: L = full context, S = half; last layer is L
    softcap: float = 15.0  # logits = softcap * tanh(logits / softcap) bounds them early in training
    ve_gate_channels: int = 32  # input channels the value-embedding gate reads


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    # No learned gain: the per-layer scalars and the following matrices do the scaling.
    return F.rms_norm(x, (x.size(-1),))


def has_value_embedding(layer: int, n_layer: int) -> bool:
    # Every other layer, counting back from the last, which always has one.
    return (n_layer - 1 - layer) % 2 == 0


def rotary_tables(seq_len: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, ...]:
    # Channel pair i turns by angle t * base^(-2i/head_dim) at position t.
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (hs/2,)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)  # (T, hs/2)
    return angles.cos()[None, :, None, :], angles.sin()[None, :, None, :]  # (1, T, 1, hs/2)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x: (B, T, nh, hs); rotates the pairs (first half[i], second half[i]) by the position's angle.
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer: int) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        assert config.n_head % config.n_kv_head == 0, "n_head must be a multiple of n_kv_head"
        self.n_head, self.n_kv_head = config.n_head, config.n_kv_head
        self.head_dim = config.n_embd // config.n_head
        kv_dim = self.n_kv_head * self.head_dim
        self.c_q = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_k = nn.Linear(config.n_embd, kv_dim, bias=False)
        self.c_v = nn.Linear(config.n_embd, kv_dim, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.ve_gate_channels = config.ve_gate_channels
        self.ve_gate = (
            nn.Linear(config.ve_gate_channels, self.n_kv_head, bias=False)
            if has_value_embedding(layer, config.n_layer)
            else None
        )

    def forward(
        self,
        x: torch.Tensor,
        ve: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        B, T, C = x.shape
        q = self.c_q(x).view(B, T, self.n_head, self.head_dim)  # (B, T, nh, hs)
        k = self.c_k(x).view(B, T, self.n_kv_head, self.head_dim)  # (B, T, nkv, hs)
        v = self.c_v(x).view(B, T, self.n_kv_head, self.head_dim)  # (B, T, nkv, hs)
        if ve is not None and self.ve_gate is not None:
            # Value residual: add the token's own value embedding, per head, through a gate in
            # (0, 2) computed from the input; zero-initialised gate weights start it at 1.
            gate = 2 * torch.sigmoid(self.ve_gate(x[..., : self.ve_gate_channels]))  # (B, T, nkv)
            v = v + gate.unsqueeze(-1) * ve.view(B, T, self.n_kv_head, self.head_dim)
        q, k = rms_norm(rotate(q, cos, sin)), rms_norm(rotate(k, cos, sin))  # QK-norm
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh|nkv, T, hs)
        gqa = self.n_kv_head != self.n_head
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.relu(self.c_fc(x)).square())  # squared ReLU


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer: int) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(config, layer)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        ve: torch.Tensor | None,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        x = x + self.attn(rms_norm(x), ve, cos, sin, mask)
        return x + self.mlp(rms_norm(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        C, V = config.n_embd, config.vocab_size
        kv_dim = config.n_kv_head * (C // config.n_head)
        self.wte = nn.Embedding(V, C)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.lm_head = nn.Linear(C, V, bias=False)  # untied from wte
        self.value_embeds = nn.ModuleDict(
            {
                str(i): nn.Embedding(V, kv_dim)
                for i in range(config.n_layer)
                if has_value_embedding(i, config.n_layer)
            }
        )
        # Per layer: x <- resid_lambdas[i] * x + x0_lambdas[i] * x0 before the block.
        self.resid_lambdas = nn.Parameter(torch.ones(config.n_layer))
        self.x0_lambdas = nn.Parameter(torch.zeros(config.n_layer))
        cos, sin = rotary_tables(config.sequence_len, C // config.n_head)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.windows = self.window_sizes(config)
        for w in sorted(set(self.windows)):
            if w < config.sequence_len:  # a sliding window needs a mask; full context does not
                T = config.sequence_len
                i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
                self.register_buffer(f"window_mask_{w}", (j <= i) & (i - j < w), persistent=False)

    @staticmethod
    def window_sizes(config: GPTConfig) -> list[int]:
        pattern = config.window_pattern.upper()
        assert pattern and set(pattern) <= {"S", "L"}, f"bad WINDOW_PATTERN {pattern!r}"
        sizes = {"L": config.sequence_len, "S": config.sequence_len // 2}
        windows = [sizes[pattern[i % len(pattern)]] for i in range(config.n_layer)]
        windows[-1] = config.sequence_len  # the last layer always sees the whole context
        return windows

    @torch.no_grad()
    def init_weights(self) -> None:
        bound = math.sqrt(3.0 / self.config.n_embd)  # uniform(-b, b) has std 1/sqrt(n_embd)
        nn.init.normal_(self.wte.weight, std=1.0)
        nn.init.normal_(self.lm_head.weight, std=0.001)  # near-uniform predictions at the start
        for block in self.blocks:
            attn, mlp = block.attn, block.mlp
            for linear in (attn.c_q, attn.c_k, attn.c_v, mlp.c_fc):
                nn.init.uniform_(linear.weight, -bound, bound)
            nn.init.zeros_(attn.c_proj.weight)  # each block starts as the identity
            nn.init.zeros_(mlp.c_proj.weight)
            if attn.ve_gate is not None:
                nn.init.zeros_(attn.ve_gate.weight)
        for embedding in self.value_embeds.values():
            nn.init.uniform_(embedding.weight, -bound, bound)
        self.resid_lambdas.fill_(1.0)
        self.x0_lambdas.fill_(0.1)

    def cast_embeddings(self, dtype: torch.dtype) -> None:
        # Embedding tables are only gathered from: low precision halves their memory traffic.
        self.wte.to(dtype=dtype)
        self.value_embeds.to(dtype=dtype)

    def estimate_flops(self) -> float:
        """Training FLOPs per token: 6 per matrix weight plus attention scores and mixing."""
        embedding_params = self.wte.weight.numel() + sum(
            e.weight.numel() for e in self.value_embeds.values()
        )
        scalars = self.resid_lambdas.numel() + self.x0_lambdas.numel()
        matrix_params = sum(p.numel() for p in self.parameters()) - embedding_params - scalars
        attn_width = self.config.n_embd  # n_head * head_dim
        attention = sum(12 * attn_width * min(w, self.config.sequence_len) for w in self.windows)
        return 6 * matrix_params + attention

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        T = idx.size(1)
        cos, sin = self.cos[:, :T], self.sin[:, :T]
        x = rms_norm(self.wte(idx))  # (B, T, C)
        x0 = x  # every layer mixes the embedding back in
        for i, block in enumerate(self.blocks):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            ve = self.value_embeds[str(i)](idx) if str(i) in self.value_embeds else None
            w = self.windows[i]
            mask = getattr(self, f"window_mask_{w}")[:T, :T] if w < T else None
            x = block(x, ve, cos, sin, mask)
        x = rms_norm(x)
        logits = self.lm_head(x).float()  # (B, T, vocab)
        logits = self.config.softcap * torch.tanh(logits / self.config.softcap)
        if targets is None:
            return logits
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)


# ---------------------------------------------------------------------------
# Optimiser: Muon for block matrices, AdamW for the rest (not torch.optim's: its first step
# imports torch._dynamo, seconds of start-up on a CPU, for what these few lines do)
# ---------------------------------------------------------------------------

# Polar Express (Amsel, Persson, Musco & Gower, 2025): per-iteration coefficients (a, b, c) of
# X <- a X + b (X X^T) X + c (X X^T)^2 X, each chosen for the singular values the previous
# iteration leaves, so that five iterations take every singular value close to 1.
polar_express_coeffs = (
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
)


def orthogonalize(g: torch.Tensor, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """Approximately U V^T for each g = U S V^T in the stack g (N, r, c)."""
    x = g.to(dtype)
    x = x / (x.norm(dim=(-2, -1), keepdim=True) * 1.02 + 1e-6)  # singular values below 1
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT  # iterate on the wide side, so the Gram matrix is the small one
    for i in range(steps):
        a, b, c = polar_express_coeffs[min(i, len(polar_express_coeffs) - 1)]
        gram = x @ x.mT  # (N, r, r)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.mT if tall else x


def muon_update(
    params: list[torch.Tensor],
    momentum_buffer: torch.Tensor,
    second_moment: torch.Tensor,
    momentum: torch.Tensor,
    lr: torch.Tensor,
    weight_decay: torch.Tensor,
    beta2: torch.Tensor,
    ns_steps: int,
    ortho_dtype: torch.dtype,
) -> None:
    """One Muon step for same-shape matrices; schedule values are 0-d tensors (no recompiles)."""
    p = torch.stack(params)  # (N, r, c)
    g = torch.stack([q.grad for q in params])  # (N, r, c)
    momentum_buffer.lerp_(g, 1 - momentum)
    g = g.lerp(momentum_buffer, momentum)  # Nesterov: step from the look-ahead point
    u = orthogonalize(g, ns_steps, ortho_dtype).float()
    # Variance normalisation: keep a running mean square per neuron (row of a tall matrix, column
    # of a wide one), divide it out, then restore the update's overall (Frobenius) size.
    reduce = -1 if u.size(-2) >= u.size(-1) else -2
    second_moment.lerp_(u.square().mean(dim=reduce, keepdim=True), 1 - beta2)
    v = u * second_moment.clamp_min(1e-10).rsqrt()
    v = v * (
        u.norm(dim=(-2, -1), keepdim=True) / v.norm(dim=(-2, -1), keepdim=True).clamp_min(1e-10)
    )
    v = v.to(p.dtype)
    # Cautious weight decay: decay only where the update already moves the weight towards zero.
    towards_zero = (v * p >= 0).to(p.dtype)
    p = p - lr * (v + weight_decay * towards_zero * p)
    for i, param in enumerate(params):
        param.copy_(p[i])


def adamw_update(
    p: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: torch.Tensor,
    lr: torch.Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """One AdamW step of one parameter; step and lr are 0-d tensors (no recompiles)."""
    g = p.grad
    exp_avg.lerp_(g, 1 - beta1)
    exp_avg_sq.lerp_(g.square(), 1 - beta2)
    denom = (exp_avg_sq / (1 - beta2**step)).sqrt() + eps  # bias-corrected
    p.mul_(1 - lr * weight_decay)
    p.sub_(lr / (1 - beta1**step) * exp_avg / denom)


class MuonAdamW:
    """Muon for 2-D matrices inside the blocks, AdamW for everything else."""

    def __init__(
        self,
        adamw_groups: list[dict],
        muon_groups: list[dict],
        *,
        device: torch.device,
        ns_steps: int,
        ortho_dtype: torch.dtype,
        compile: Callable = lambda f: f,
    ) -> None:
        self.adamw_groups, self.muon_groups = adamw_groups, muon_groups
        self.param_groups = adamw_groups + muon_groups  # the schedules set "lr" in each
        self.ns_steps, self.ortho_dtype = ns_steps, ortho_dtype
        self._adamw_update, self._muon_update = compile(adamw_update), compile(muon_update)
        # Schedule values live on the device as 0-d tensors, updated in place each step.
        self._steps = 0
        self._step_t = torch.zeros((), device=device)
        for group in adamw_groups:
            group["exp_avg"] = [torch.zeros_like(p) for p in group["params"]]
            group["exp_avg_sq"] = [torch.zeros_like(p) for p in group["params"]]
            group["lr_t"] = torch.zeros((), device=device)
        for group in muon_groups:
            shape = group["params"][0].shape
            assert all(p.shape == shape for p in group["params"]), "a Muon group has one shape"
            n, (rows, cols) = len(group["params"]), shape
            group["momentum_buffer"] = torch.zeros(n, rows, cols, device=device)
            moment_shape = (n, rows, 1) if rows >= cols else (n, 1, cols)
            group["second_moment"] = torch.zeros(moment_shape, device=device)
            for key in ("lr_t", "momentum_t", "weight_decay_t", "beta2_t"):
                group[key] = torch.zeros((), device=device)
        for group in self.param_groups:
            group["initial_lr"] = group["lr"]

    @torch.no_grad()
    def step(self) -> None:
        self._steps += 1
        self._step_t.fill_(self._steps)
        for group in self.adamw_groups:
            group["lr_t"].fill_(group["lr"])
            beta1, beta2 = group["betas"]
            for p, m, v in zip(group["params"], group["exp_avg"], group["exp_avg_sq"], strict=True):
                self._adamw_update(
                    p,
                    m,
                    v,
                    self._step_t,
                    group["lr_t"],
                    beta1,
                    beta2,
                    group["eps"],
                    group["weight_decay"],
                )
        for group in self.muon_groups:
            rows, cols = group["params"][0].shape
            # Tall matrices get a larger step: sqrt(rows / cols) keeps the per-entry RMS matched.
            group["lr_t"].fill_(group["lr"] * max(1.0, rows / cols) ** 0.5)
            group["momentum_t"].fill_(group["momentum"])
            group["weight_decay_t"].fill_(group["weight_decay"])
            group["beta2_t"].fill_(group["beta2"])
            self._muon_update(
                group["params"],
                group["momentum_buffer"],
                group["second_moment"],
                group["momentum_t"],
                group["lr_t"],
                group["weight_decay_t"],
                group["beta2_t"],
                self.ns_steps,
                self.ortho_dtype,
            )


def build_optimizer(
    model: GPT,
    *,
    device: torch.device,
    ortho_dtype: torch.dtype,
    compile: Callable = lambda f: f,
) -> MuonAdamW:
    # AdamW learning rates were tuned at width 768; scale them by 1/sqrt(width / 768).
    scale = (model.config.n_embd / 768) ** -0.5
    adam = {"betas": ADAM_BETAS, "eps": 1e-10, "weight_decay": 0.0}
    adamw_groups = [
        {"params": [model.lm_head.weight], "lr": UNEMBEDDING_LR * scale, **adam},
        {"params": [model.wte.weight], "lr": EMBEDDING_LR * scale, **adam},
        {"params": list(model.value_embeds.parameters()), "lr": EMBEDDING_LR * scale, **adam},
        {"params": [model.resid_lambdas], "lr": SCALAR_LR * 0.01, **adam},
        {"params": [model.x0_lambdas], "lr": SCALAR_LR, **adam, "betas": (0.96, 0.95)},
    ]
    matrices = list(model.blocks.parameters())
    muon_groups = [
        {
            "params": [p for p in matrices if p.shape == shape],
            "lr": MATRIX_LR,
            "momentum": MUON_MOMENTUM,
            "weight_decay": WEIGHT_DECAY,
            "beta2": MUON_BETA2,
        }
        for shape in sorted({p.shape for p in matrices})
    ]
    grouped = sum(len(g["params"]) for g in adamw_groups + muon_groups)
    assert grouped == len(list(model.parameters())), "every parameter needs an optimiser group"
    return MuonAdamW(
        [g for g in adamw_groups if g["params"]],
        muon_groups,
        device=device,
        ns_steps=NS_STEPS,
        ortho_dtype=ortho_dtype,
        compile=compile,
    )


# ---------------------------------------------------------------------------
# Hyperparameters (edit these directly; `hpdream-run train --set NAME=VALUE` overrides them)
# ---------------------------------------------------------------------------

# Model architecture
DEPTH = 4  # number of transformer blocks
ASPECT_RATIO = 64  # model width = DEPTH * ASPECT_RATIO, rounded up to a multiple of HEAD_DIM
HEAD_DIM = 128  # width of one attention head
KV_GROUP = 1  # query heads sharing one key/value head (1 = plain multi-head attention)
WINDOW_PATTERN = "L"  # sliding-window pattern over layers: L = full context, S = half

# Optimisation
TOTAL_BATCH_SIZE = 2**16  # tokens per optimiser step (gradients accumulate to reach it)
DEVICE_BATCH_SIZE = 16  # rows per forward/backward pass (lower it if memory runs out)
EMBEDDING_LR = 0.6  # AdamW learning rate of the token and value embeddings
UNEMBEDDING_LR = 0.004  # AdamW learning rate of lm_head
MATRIX_LR = 0.04  # Muon learning rate of the block matrices
SCALAR_LR = 0.5  # AdamW learning rate of the per-layer scalars
WEIGHT_DECAY = 0.2  # Muon's cautious weight decay, decayed to 0 over the budget
ADAM_BETAS = (0.8, 0.95)  # AdamW beta1, beta2
MUON_MOMENTUM = 0.95  # Muon's Nesterov momentum, after the ramp below
MUON_MOMENTUM_START = 0.85  # Muon momentum at step 0, ramped linearly ...
MUON_MOMENTUM_RAMP_STEPS = 300  # ... over this many steps
MUON_BETA2 = 0.95  # decay of Muon's per-neuron second moment
NS_STEPS = 5  # orthogonalisation iterations
WARMUP_RATIO = 0.0  # fraction of the budget spent ramping the learning rates up
WARMDOWN_RATIO = 0.5  # fraction of the budget, at the end, spent ramping them down
FINAL_LR_FRAC = 0.0  # learning rate at the end, as a fraction of the initial one


def build_config(vocab_size: int, sequence_len: int) -> GPTConfig:
    width = -(-DEPTH * ASPECT_RATIO // HEAD_DIM) * HEAD_DIM  # round up to whole heads
    n_head = width // HEAD_DIM
    assert n_head % KV_GROUP == 0, "KV_GROUP must divide the number of heads"
    return GPTConfig(
        sequence_len=sequence_len,
        vocab_size=vocab_size,
        n_layer=DEPTH,
        n_head=n_head,
        n_kv_head=n_head // KV_GROUP,
        n_embd=width,
        window_pattern=WINDOW_PATTERN,
    )


def lr_multiplier(progress: float) -> float:
    # progress = fraction of the time budget used, 0 to 1
    if progress < WARMUP_RATIO:
        return progress / WARMUP_RATIO
    if progress <= 1.0 - WARMDOWN_RATIO:
        return 1.0
    left = (1.0 - progress) / WARMDOWN_RATIO  # 1 -> 0 over the warmdown
    return FINAL_LR_FRAC + (1.0 - FINAL_LR_FRAC) * left


def muon_momentum(step: int) -> float:
    ramp = min(step / MUON_MOMENTUM_RAMP_STEPS, 1.0) if MUON_MOMENTUM_RAMP_STEPS > 0 else 1.0
    return MUON_MOMENTUM_START + (MUON_MOMENTUM - MUON_MOMENTUM_START) * ramp


def weight_decay(progress: float) -> float:
    return WEIGHT_DECAY * (1.0 - progress)


# ---------------------------------------------------------------------------
# Setup: device, data, model, optimiser (the harness owns device, data and clock)
# ---------------------------------------------------------------------------

run = harness.start(globals())

config = build_config(run.vocab_size, run.seq_len)
with torch.device(run.device):
    model = GPT(config)
model.init_weights()
if run.fast_dtype != torch.float32:
    model.cast_embeddings(run.fast_dtype)
optimizer = build_optimizer(
    model, device=run.device, ortho_dtype=run.fast_dtype, compile=run.compile
)
train_model = run.compile(model)

tokens_per_pass = DEVICE_BATCH_SIZE * run.seq_len
assert TOTAL_BATCH_SIZE % tokens_per_pass == 0, "TOTAL_BATCH_SIZE must be a multiple of a pass"
grad_accum_steps = TOTAL_BATCH_SIZE // tokens_per_pass
print(f"model: {config}")
print(f"gradient accumulation: {grad_accum_steps} x {DEVICE_BATCH_SIZE} x {run.seq_len} tokens")

loader = run.train_loader(DEVICE_BATCH_SIZE)
x, y = next(loader)

# ---------------------------------------------------------------------------
# Training loop: runs until the harness's budget clock says stop
# ---------------------------------------------------------------------------

while run.training():
    progress = run.progress  # fraction of the budget used before this step
    for _ in range(grad_accum_steps):
        with run.autocast():
            loss = train_model(x, y)
        (loss / grad_accum_steps).backward()
        x, y = next(loader)  # the next batch is fetched while the device works
    lrm = lr_multiplier(progress)
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * lrm
    for group in optimizer.muon_groups:
        group["momentum"] = muon_momentum(run.step)
        group["weight_decay"] = weight_decay(progress)
    optimizer.step()
    model.zero_grad(set_to_none=True)
    run.step_done(loss.detach())

run.finish(model, flops_per_token=model.estimate_flops())
