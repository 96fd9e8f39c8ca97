"""Classifying from the change to train.py: constants, functions, classes, module code."""

from __future__ import annotations

import pytest

from hpdream_core import ParamChange, classify, diff_train_py, extract_params, parse_taxonomy
from hpdream_core._codediff import constant_kind, symbol_kind

# A small autoresearch-like training script, written for these tests.
BASE = '''"""A tiny training script in the autoresearch style."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import make_dataloader

# Model
DEPTH = 4
ASPECT_RATIO = 64
HEAD_DIM = 128
WINDOW_PATTERN = "SSSL"

# Optimisation
TOTAL_BATCH_SIZE = 2**19
DEVICE_BATCH_SIZE = 32
MATRIX_LR = 0.04
EMBEDDING_LR = 0.6
WEIGHT_DECAY = 0.2
ADAM_BETAS = (0.8, 0.95)
WARMUP_RATIO = 0.0
WARMDOWN_RATIO = 0.5
FINAL_LR_FRAC = 0.0


class GPTConfig:
    n_layer: int = 12
    vocab_size: int = 8192


def norm(x):
    return F.rms_norm(x, (x.size(-1),))


class MLP(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.c_fc = nn.Linear(dim, 4 * dim, bias=False)
        self.c_proj = nn.Linear(4 * dim, dim, bias=False)

    def forward(self, x):
        return self.c_proj(F.relu(self.c_fc(x)).square())


class CausalSelfAttention(nn.Module):
    def __init__(self, dim, n_head):
        super().__init__()
        self.n_head = n_head
        self.ve_gate_channels = 32
        self.rope = Rotary(dim // n_head, base=10000)
        self.c_attn = nn.Linear(dim, 3 * dim, bias=False)

    def forward(self, x):
        q, k, v = self.c_attn(x).chunk(3, dim=-1)
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


class MuonAdamW(torch.optim.Optimizer):
    def step(self):
        for group in self.param_groups:
            zeropower_via_newtonschulz5(group, steps=5)


class GPT(nn.Module):
    def __init__(self, depth, dim):
        super().__init__()
        self.blocks = nn.ModuleList([MLP(dim) for _ in range(depth)])

    def forward(self, x):
        for b in self.blocks:
            x = x + b(norm(x))
        return 15.0 * torch.tanh(x / 15.0)

    def setup_optimizer(self):
        return torch.optim.AdamW(self.parameters(), lr=MATRIX_LR, betas=ADAM_BETAS)


def get_lr_multiplier(progress):
    if progress < WARMUP_RATIO:
        return progress / WARMUP_RATIO
    if progress < 1.0 - WARMDOWN_RATIO:
        return 1.0
    cooldown = (1.0 - progress) / WARMDOWN_RATIO
    return cooldown + (1 - cooldown) * FINAL_LR_FRAC


model = GPT(DEPTH, DEPTH * ASPECT_RATIO)
optimizer = model.setup_optimizer()
loader = make_dataloader(DEVICE_BATCH_SIZE)
step = 0
while step < 100:
    x, y = next(loader)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    print(f"step {step} loss {loss.item():.3f}")
    step += 1
'''


def edit(*pairs: tuple[str, str]) -> str:
    text = BASE
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.mark.parametrize(
    ("old", "new", "category", "subcategory"),
    [
        ("MATRIX_LR = 0.04", "MATRIX_LR = 0.06", "hyperparameters", "learning_rate"),
        ("TOTAL_BATCH_SIZE = 2**19", "TOTAL_BATCH_SIZE = 2**18", "hyperparameters", "batch_size"),
        ("WEIGHT_DECAY = 0.2", "WEIGHT_DECAY = 0.1", "hyperparameters", "weight_decay"),
        ("WARMUP_RATIO = 0.0", "WARMUP_RATIO = 0.05", "schedule", "warmup"),
        ("WARMDOWN_RATIO = 0.5", "WARMDOWN_RATIO = 0.7", "schedule", "warmdown"),
        ("FINAL_LR_FRAC = 0.0", "FINAL_LR_FRAC = 0.1", "schedule", "lr_decay"),
        ("DEPTH = 4", "DEPTH = 6", "architecture", "depth"),
        ("ASPECT_RATIO = 64", "ASPECT_RATIO = 96", "architecture", "width"),
        ("HEAD_DIM = 128", "HEAD_DIM = 64", "architecture", "head_dim"),
        ('WINDOW_PATTERN = "SSSL"', 'WINDOW_PATTERN = "L"', "architecture", "attention"),
        ("ADAM_BETAS = (0.8, 0.95)", "ADAM_BETAS = (0.9, 0.95)", "optimizer", "adam_betas"),
        ("n_layer: int = 12", "n_layer: int = 16", "architecture", "depth"),
        ("vocab_size: int = 8192", "vocab_size: int = 16384", "tokenizer", "vocab_size"),
    ],
)
def test_constants_decide(old: str, new: str, category: str, subcategory: str) -> None:
    label = classify("", old_code=BASE, new_code=edit((old, new)))
    assert (label.category, label.subcategory) == (category, subcategory), label.evidence
    assert label.evidence[0].startswith("diff: constant")
    assert label.disagreement is None


def test_constant_values_are_numbers() -> None:
    diff = diff_train_py(
        BASE, edit(("2**19", "2**18"), ("ADAM_BETAS = (0.8, 0.95)", "ADAM_BETAS = (0.9, 0.95)"))
    )
    by_name = {c.name: c for c in diff.constants}
    assert (by_name["TOTAL_BATCH_SIZE"].old, by_name["TOTAL_BATCH_SIZE"].new) == (524288, 262144)
    assert by_name["TOTAL_BATCH_SIZE"].old_source == "2 ** 19"
    assert (by_name["ADAM_BETAS"].old, by_name["ADAM_BETAS"].new) == ("(0.8, 0.95)", "(0.9, 0.95)")
    assert diff.params == (
        ParamChange("total_batch_size", 524288, 262144),
        ParamChange("adam_betas", "(0.8, 0.95)", "(0.9, 0.95)"),
    )
    assert diff.symbols == ()


@pytest.mark.parametrize(
    ("old", "new", "symbol", "category", "subcategory"),
    [
        (
            "F.relu(self.c_fc(x)).square()",
            "F.gelu(self.c_fc(x))",
            "MLP.forward",
            "architecture",
            "activation",
        ),
        (
            "return cooldown + (1 - cooldown) * FINAL_LR_FRAC",
            "return 0.5 * (1 + math.cos(math.pi * (1 - cooldown)))",
            "get_lr_multiplier",
            "schedule",
            None,
        ),
        (
            "torch.optim.AdamW(self.parameters(), lr=MATRIX_LR, betas=ADAM_BETAS)",
            "torch.optim.SGD(self.parameters(), lr=MATRIX_LR)",
            "GPT.setup_optimizer",
            "optimizer",
            "optimizer_choice",
        ),
        (
            "zeropower_via_newtonschulz5(group, steps=5)",
            "zeropower_via_newtonschulz5(group, steps=3)",
            "MuonAdamW.step",
            "optimizer",
            "muon",
        ),
        (
            "return F.rms_norm(x, (x.size(-1),))",
            "return F.layer_norm(x, (x.size(-1),))",
            "norm",
            "architecture",
            "normalization",
        ),
        (
            "is_causal=True)",
            "is_causal=True, scale=0.1)",
            "CausalSelfAttention.forward",
            "architecture",
            "attention",
        ),
    ],
)
def test_functions_and_methods_decide(
    old: str, new: str, symbol: str, category: str, subcategory: str | None
) -> None:
    new_code = edit((old, new))
    diff = diff_train_py(BASE, new_code)
    assert [(s.name, s.change) for s in diff.symbols] == [(symbol, "modified")]
    label = classify("", old_code=BASE, new_code=new_code)
    assert label.category == category, label.evidence
    if subcategory is not None:
        assert label.subcategory == subcategory, label.evidence


@pytest.mark.parametrize(
    ("old", "new", "category", "subcategory"),
    [
        (
            "    loss.backward()\n",
            "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n",
            "optimizer",
            "gradient_clipping",
        ),
        (
            "optimizer = model.setup_optimizer()\n",
            "optimizer = model.setup_optimizer()\nmodel = torch.compile(model)\n",
            "other",
            "systems",
        ),
        (
            "loader = make_dataloader(DEVICE_BATCH_SIZE)",
            "loader = make_dataloader(DEVICE_BATCH_SIZE, shuffle=True)",
            "tokenizer",
            "data",
        ),
        ("torch.manual_seed", "torch.manual_seed", "other", None),
    ],
)
def test_module_code_decides_by_content(
    old: str, new: str, category: str, subcategory: str | None
) -> None:
    if old == "torch.manual_seed":
        new_code = edit(("step = 0\n", "torch.manual_seed(1337)\nstep = 0\n"))
        subcategory = "seed"
    else:
        new_code = edit((old, new))
    diff = diff_train_py(BASE, new_code)
    assert [s.name for s in diff.symbols] == ["<module code>"]
    label = classify("", old_code=BASE, new_code=new_code)
    assert (label.category, label.subcategory) == (category, subcategory), label.evidence


def test_comments_docstrings_blank_lines_and_prints_are_no_change() -> None:
    new_code = edit(
        ("# Model\n", "# Model size\n\n"),
        ('"""A tiny training script', '"""A small training script'),
        (
            'print(f"step {step} loss {loss.item():.3f}")',
            'print(f"step {step}: {loss.item():.4f}")',
        ),
        (
            "    def forward(self, x):\n        for b",
            "    def forward(self, x):\n        # the residual stream\n        for b",
        ),
    )
    diff = diff_train_py(BASE, new_code)
    assert not diff.changed, diff
    label = classify("switch to GELU", old_code=BASE, new_code=new_code)
    assert label.category == "architecture"  # the text, since the code did not change
    assert "train.py is unchanged" in " ".join(label.evidence)
    assert label.disagreement is not None and "unchanged" in label.disagreement


def test_added_and_removed_functions() -> None:
    new_code = edit(
        (
            "def norm(x):",
            "def z_loss(logits):\n    return 1e-4 * logits.logsumexp(-1).pow(2).mean()\n\n\ndef norm(x):",
        )
    )
    diff = diff_train_py(BASE, new_code)
    assert [(s.name, s.change, s.kind) for s in diff.symbols] == [("z_loss", "added", "loss")]
    assert classify("", old_code=BASE, new_code=new_code).subcategory == "loss"
    back = diff_train_py(new_code, BASE)
    assert [(s.name, s.change) for s in back.symbols] == [("z_loss", "removed")]


def test_literal_settings_inside_code_are_params() -> None:
    new_code = edit(
        ("self.ve_gate_channels = 32", "self.ve_gate_channels = 48"), ("base=10000", "base=200000")
    )
    assert extract_params("VE gate channels 32 to 48", old_code=BASE, new_code=new_code) == (
        ParamChange("ve_gate_channels", 32, 48),
        ParamChange("rotary_base", 10000, 200000),
    )


def test_text_picks_among_the_diff_categories_and_multi() -> None:
    new_code = edit(
        ("WARMDOWN_RATIO = 0.5", "WARMDOWN_RATIO = 0.7"), ("MATRIX_LR = 0.04", "MATRIX_LR = 0.05")
    )
    a = classify("warmdown 0.7 and lr 0.05", old_code=BASE, new_code=new_code)
    assert (a.category, a.subcategory, a.multi, a.disagreement) == (
        "schedule",
        "warmdown",
        True,
        None,
    )
    b = classify("lr 0.05, warmdown 0.7", old_code=BASE, new_code=new_code)
    assert (b.category, b.multi) == ("hyperparameters", True)
    # without text the first change in the file wins a tie
    c = classify("", old_code=BASE, new_code=new_code)
    assert c.category == "hyperparameters" and c.multi
    assert c.params == (
        ParamChange("matrix_lr", 0.04, 0.05),
        ParamChange("warmdown_ratio", 0.5, 0.7),
    )


def test_disagreement_is_reported_and_the_diff_decides() -> None:
    new_code = edit(("WARMDOWN_RATIO = 0.5", "WARMDOWN_RATIO = 0.7"))
    label = classify("increase the learning rate", old_code=BASE, new_code=new_code)
    assert label.category == "schedule"
    assert label.disagreement is not None
    assert "hyperparameters" in label.disagreement and "schedule" in label.disagreement
    assert label.params == (ParamChange("warmdown_ratio", 0.5, 0.7),)


def test_a_file_that_does_not_parse_falls_back_to_the_text() -> None:
    broken = edit(("MATRIX_LR = 0.04", "MATRIX_LR = 0.05"), ("def norm(x):", "def norm(x)"))
    diff = diff_train_py(BASE, broken)
    assert diff.error is not None and "does not parse" in diff.error and "line" in diff.error
    assert [(c.name, c.old, c.new) for c in diff.constants] == [("MATRIX_LR", 0.04, 0.05)]
    label = classify("matrix lr 0.05", old_code=BASE, new_code=broken)
    assert label.category == "hyperparameters"
    assert any("does not parse" in e for e in label.evidence)
    assert label.params == (ParamChange("matrix_lr", 0.04, 0.05),)
    # nothing readable changed: the text decides alone
    only_broken = edit(("def norm(x):", "def norm(x)"))
    label = classify("SwiGLU activation", old_code=BASE, new_code=only_broken)
    assert label.category == "architecture"
    assert not label.multi


def test_revert_text_with_a_diff() -> None:
    label = classify("revert to depth 4", old_code=edit(("DEPTH = 4", "DEPTH = 6")), new_code=BASE)
    assert (label.category, label.subcategory) == ("other", "revert")
    assert label.params == (ParamChange("depth", 6, 4),)


def test_custom_taxonomy_maps_code_by_its_own_patterns_and_kinds() -> None:
    tax = parse_taxonomy(
        """
        name = "code"
        [[categories]]
        key = "knobs"
        parameters = ["*_ratio", "*_lr"]
        code_kinds = ["hyperparameter"]
        [[categories]]
        key = "model"
        symbols = ["MLP*", "GPT*"]
        code_kinds = ["model"]
        [[categories]]
        key = "other"
        """
    )
    assert (
        classify(
            "",
            old_code=BASE,
            new_code=edit(("WARMDOWN_RATIO = 0.5", "WARMDOWN_RATIO = 0.6")),
            taxonomy=tax,
        ).category
        == "knobs"
    )
    assert (
        classify("", old_code=BASE, new_code=edit(("F.relu(", "F.gelu(")), taxonomy=tax).category
        == "model"
    )
    assert (
        classify(
            "", old_code=BASE, new_code=edit(("DEPTH = 4", "DEPTH = 6")), taxonomy=tax
        ).category
        == "model"
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("MATRIX_LR", "hyperparameter"),
        ("WARMUP_RATIO", "schedule"),
        ("MUON_MOMENTUM_WARMUP_STEPS", "schedule"),
        ("FINAL_EVAL_BATCH_SIZE", "evaluation"),
        ("ADAM_BETAS", "optimizer"),
        ("DEPTH", "model"),
        ("GPTConfig.n_layer", "model"),
        ("VOCAB_SIZE", "data"),
        ("SEED", "other"),
    ],
)
def test_constant_kinds(name: str, kind: str) -> None:
    assert constant_kind(name) == kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("GPT.setup_optimizer", "optimizer"),
        ("GPT.forward", "model"),
        ("MuonAdamW.step", "optimizer"),
        ("get_lr_multiplier", "schedule"),
        ("get_muon_momentum", "schedule"),
        ("make_dataloader", "data"),
        ("evaluate_bpb", "evaluation"),
        ("CausalSelfAttention.__init__", "model"),
    ],
)
def test_symbol_kinds(name: str, kind: str) -> None:
    assert symbol_kind(name) == kind


def test_every_constant_of_the_shipped_template_has_a_category() -> None:
    # the train.py that hpdream's own studies give to agents
    import ast
    from pathlib import Path

    template = (
        Path(__file__).resolve().parents[2]
        / "packages"
        / "hpdream_runner"
        / "src"
        / "hpdream_runner"
        / "templates"
        / "train.py"
    )
    source = template.read_text(encoding="utf-8")
    expected = {
        "DEPTH": "architecture",
        "ASPECT_RATIO": "architecture",
        "HEAD_DIM": "architecture",
        "WINDOW_PATTERN": "architecture",
        "TOTAL_BATCH_SIZE": "hyperparameters",
        "MATRIX_LR": "hyperparameters",
        "WEIGHT_DECAY": "hyperparameters",
        "ADAM_BETAS": "optimizer",
        "WARMUP_RATIO": "schedule",
        "WARMDOWN_RATIO": "schedule",
        "FINAL_LR_FRAC": "schedule",
    }
    seen = 0
    for node in ast.parse(source).body:
        if not (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.isupper()
        ):
            continue
        name = node.targets[0].id
        line = ast.get_source_segment(source, node)
        assert line is not None
        value: object = (
            ast.literal_eval(node.value) if not isinstance(node.value, ast.BinOp) else 2**10
        )
        if isinstance(value, str):
            other = '"SL"'
        elif isinstance(value, tuple):
            other = "(0.9, 0.99)"
        else:
            assert isinstance(value, int | float)
            other = repr(value * 2 if value else 1)
        changed = source.replace(line, f"{name} = {other}", 1)
        label = classify("", old_code=source, new_code=changed)
        assert label.category not in ("other", "baseline"), (name, label.evidence)
        assert label.evidence[0].startswith(f"diff: constant {name}")
        if name in expected:
            assert label.category == expected[name], (name, label.evidence)
            seen += 1
    assert seen >= 8
