"""The classifier from text: the rules of taxonomy.md, how agents write, evidence, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import Classifier, Label, classify, default_taxonomy

CATEGORIES = default_taxonomy().keys()


def cat(text: str, hypothesis: str | None = None) -> str:
    return classify(text, hypothesis=hypothesis).category


# -- taxonomy.md, the table -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category", "subcategory"),
    [
        # hyperparameters: learning rates, batch, weight-decay magnitude, dropout, grad accumulation
        ("increase matrix LR to 0.05", "hyperparameters", "learning_rate"),
        ("unembedding learning rate 0.004 -> 0.008", "hyperparameters", "learning_rate"),
        ("halve the total batch size", "hyperparameters", "batch_size"),
        ("DEVICE_BATCH_SIZE=16", "hyperparameters", "batch_size"),
        ("weight decay 0.2 -> 0.1", "hyperparameters", "weight_decay"),
        ("add dropout 0.1", "hyperparameters", "dropout"),
        ("gradient accumulation 4 -> 8", "hyperparameters", "batch_size"),
        # architecture: depth, width, heads, MLP, activation, norm, attention, positions, embeddings...
        ("depth 8 -> 12", "architecture", "depth"),
        ("ASPECT_RATIO 64 -> 96", "architecture", "width"),
        ("HEAD_DIM 128 -> 64", "architecture", "head_dim"),
        ("MLP ratio 4x -> 3x", "architecture", "mlp"),
        ("SwiGLU activation", "architecture", "activation"),
        ("replace RMSNorm with LayerNorm", "architecture", "normalization"),
        ("WINDOW_PATTERN SSSL -> SSLL", "architecture", "attention"),
        ("RoPE base 10K -> 200K", "architecture", "positional_encoding"),
        ("remove value embeddings", "architecture", "embedding"),
        ("weight tying of embed and unembed", "architecture", "embedding"),
        ("parallel attn+MLP blocks", "architecture", "residual"),
        ("logit softcap 15 -> 30", "architecture", "logit_softcap"),
        ("zero-init the output projections", "architecture", "initialization"),
        # optimizer: betas and eps, Muon, clipping, which optimiser
        ("Adam beta2 0.95 -> 0.99", "optimizer", "adam_betas"),
        ("Muon ns_steps 5 -> 3", "optimizer", "muon"),
        ("Nesterov off for Muon", "optimizer", "muon"),
        ("gradient clipping max_norm=1.0", "optimizer", "gradient_clipping"),
        ("switch optimizer to Lion", "optimizer", "optimizer_choice"),
        # schedule: warmup, warmdown, decay shape, final LR fraction, momentum schedule
        ("add 5% warmup", "schedule", "warmup"),
        ("WARMDOWN_RATIO 0.5 -> 0.7", "schedule", "warmdown"),
        ("cosine decay instead of linear", "schedule", "lr_decay"),
        ("FINAL_LR_FRAC 0.0 -> 0.1", "schedule", "lr_decay"),
        ("muon momentum warmup 300 -> 200 steps", "schedule", "momentum_schedule"),
        ("batch size ramp from 2^16 to 2^19", "schedule", "batch_size_schedule"),
        # tokenizer: vocabulary, BPE, packing, data mixture and order
        ("vocab size 8192 -> 16384", "tokenizer", "vocab_size"),
        ("retrain the BPE tokenizer", "tokenizer", "vocab_size"),
        ("best-fit sequence packing", "tokenizer", "packing"),
        ("shuffle documents across shards", "tokenizer", "data"),
        # other: precision, compile, memory, seeds, evaluation, fixes
        ("bf16 autocast everywhere", "other", "systems"),
        ("enable torch.compile", "other", "systems"),
        ("activation checkpointing to save memory", "other", "systems"),
        ("random seed 42 -> 137", "other", "seed"),
        ("fix a bug in the data path", "other", "fix"),
    ],
)
def test_the_table_of_taxonomy_md(text: str, category: str, subcategory: str) -> None:
    label = classify(text)
    assert (label.category, label.subcategory) == (category, subcategory), label.evidence


# -- taxonomy.md, the rules for ambiguous rows --------------------------------------


def test_rule_classify_by_the_change_not_the_result() -> None:
    # a crash is classified by what it tried
    assert cat("depth 24 (OOM crash)") == "architecture"
    assert cat("increase LR to 0.1 - diverged, loss NaN") == "hyperparameters"
    assert cat("WARMUP_RATIO=0.1: much worse, loss spike at step 200, crashed") == "schedule"


def test_rule_several_changes_take_the_first_named_and_set_multi() -> None:
    a = classify("grad clip 1.0 + WARMDOWN_RATIO=0.4")
    assert (a.category, a.multi) == ("optimizer", True)
    b = classify("WARMDOWN_RATIO=0.4 + grad clip 1.0")
    assert (b.category, b.multi) == ("schedule", True)
    # several knobs of one category are not multi
    c = classify("MATRIX_LR=0.05, EMBEDDING_LR=0.8, batch 2^16")
    assert (c.category, c.multi) == ("hyperparameters", False)


def test_rule_weight_decay_magnitude_kind_and_schedule() -> None:
    assert classify("weight decay 0.2 -> 0.1").category == "hyperparameters"
    assert classify("Muon WD 0.2 -> 0.22").category == "hyperparameters"
    assert classify("cautious weight decay").category == "optimizer"
    assert classify("remove the cautious WD mask").category == "optimizer"
    assert classify("decoupled weight decay").category == "optimizer"
    assert classify("weight decay schedule: linear decay to zero").category == "schedule"
    assert classify("constant WD instead of decaying").category == "schedule"


def test_rule_model_size_knobs_are_architecture() -> None:
    for text in ("DEPTH=6", "ASPECT_RATIO=96", "HEAD_DIM=64", "DEPTH 4->6 and ASPECT_RATIO 64->48"):
        assert cat(text) == "architecture", text


def test_rule_lr_warmup_and_betas() -> None:
    assert cat("Increase LR") == "hyperparameters"
    assert cat("longer warmup") == "schedule"
    assert cat("Adam beta2 0.95 -> 0.99") == "optimizer"


def test_rule_objective_averaging_and_kernels() -> None:
    for text in (
        "z-loss 1e-4",
        "label smoothing 0.1",
        "auxiliary loss on layer 4",
        "multi-token prediction head",
    ):
        label = classify(text)
        assert (label.category, label.subcategory) == ("other", "loss"), text
    assert classify("EMA of weights, decay 0.999").category == "optimizer"
    assert classify("SWA over the warmdown").category == "optimizer"
    # a faster kernel for the same operation is systems, not architecture
    assert classify("FlashAttention-3 kernels for attention").category == "other"
    assert classify("fused RMSNorm kernel").subcategory == "systems"


def test_rule_reruns() -> None:
    # a re-run of an earlier configuration: the category of the change it re-tests
    assert cat("rerun depth 6 to check noise") == "architecture"
    # an explicit re-measurement of the baseline
    for text in (
        "baseline",
        "rerun baseline",
        "Baseline rerun on the new machine",
        "same as baseline",
        "baseline (no changes)",
    ):
        label = classify(text)
        assert label.category == "baseline", text
        assert label.params == ()
    # "baseline" as a comparison is not a re-measurement
    assert cat("depth 6, worse than baseline") == "architecture"
    assert cat("revert to baseline") == "other"


def test_rule_training_length_sequence_length_eval_and_export() -> None:
    assert cat("double the training iterations") == "hyperparameters"
    assert cat("time budget 5 min -> 10 min") == "hyperparameters"
    assert cat("sequence length 1024 -> 2048") == "hyperparameters"
    assert cat("increase the eval batch size to 128") == "other"
    assert cat("int8 quantization of the exported weights") == "other"
    assert cat("LZMA compression of the checkpoint") == "other"


# -- how agents write -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("MATRIX_LR=0.06", "hyperparameters"),
        ("lr 0.04->0.05", "hyperparameters"),
        ("TOTAL_BATCH_SIZE 2**15 -> 2**16", "hyperparameters"),
        ("batch x2", "hyperparameters"),
        ("depth 4→6", "architecture"),
        ("ReLU² MLP instead of GELU", "architecture"),
        ("exp12: warmdown 0.5 to 0.7", "schedule"),
        ("gpu0: Adam beta1 0.8 to 0.85", "optimizer"),
        ("[radical] replace attention with a Mamba block", "architecture"),
        ("#7 vocab 8192 -> 32768", "tokenizer"),
        ("embedding LR 0.6 to 0.8", "hyperparameters"),  # the head noun decides: LR
        ("x0_lambda init 0.1 to 0.05", "architecture"),
        ("muon momentum warmup 300 to 200 steps", "schedule"),
        ("FlexAttention sliding window", "architecture"),
        ("conv kernel 15 -> 7", "architecture"),
        ("clip gradients at 0.5", "optimizer"),
    ],
)
def test_how_agents_write(text: str, category: str) -> None:
    assert cat(text) == category, classify(text).evidence


def test_long_prose_with_hypothesis_evidence_and_result() -> None:
    text = (
        "WARMDOWN_RATIO 0.5→0.6 (hypothesis: a longer cooldown gives smoother convergence and "
        "lets the optimizer settle; evidence: batch size and LR sweeps plateaued, Adam betas "
        "tuned): val_bpb 1.229→1.231 WORSE. Only 640 steps vs 652, MFU 53%. Conclusion: the "
        "learning rate, batch size and weight decay are near-optimal; next try depth."
    )
    label = classify(text)
    assert (label.category, label.subcategory) == ("schedule", "warmdown")
    assert not label.multi


def test_prose_without_a_change_part_reads_the_hypothesis() -> None:
    text = "Bottleneck: data order. Hypothesis: shuffling documents across shards removes the topic drift."
    assert cat(text) == "tokenizer"


def test_hypothesis_column_only_breaks_ties() -> None:
    assert (
        cat("depth 6", hypothesis="a higher LR would not help; more layers will") == "architecture"
    )
    assert cat("try the idea", hypothesis="cosine decay converges better than linear") == "schedule"


def test_negations_and_reverts_are_not_the_change_they_name() -> None:
    assert classify("revert depth change").category == "other"
    assert classify("revert depth change").subcategory == "revert"
    assert classify("undo the SwiGLU experiment").subcategory == "revert"
    assert classify("back to ReLU^2").subcategory == "revert"
    assert cat("keep depth, increase LR to 0.05") == "hyperparameters"
    assert cat("warmdown 0.6 instead of a higher LR") == "schedule"
    assert cat("LR unchanged, warmdown 0.6") == "schedule"
    assert cat("Adam beta2 0.99 rather than changing the LR") == "optimizer"
    assert cat("depth 10, same LR as before") == "architecture"


def test_context_and_purpose_count_little() -> None:
    assert cat("lower matrix lr to 0.03 at depth 3") == "hyperparameters"
    assert (
        cat("reduce depth from 8 to 6 to increase training steps within the time budget")
        == "architecture"
    )
    assert cat("lower weight decay to 0.1 after removing the logit cap") == "hyperparameters"


def test_nothing_matches_gives_the_fallback() -> None:
    label = classify("qwerty asdf")
    assert label.category == "other"
    assert label.subcategory is None
    assert "no keyword" in label.evidence[0]
    assert classify("").category == "other"
    assert "empty" in classify("   ").evidence[0]


def test_evidence_names_the_deciding_words() -> None:
    label = classify("exp3: MATRIX_LR 0.04 -> 0.06 (much worse)")
    assert label.evidence[0].startswith('text: "MATRIX_LR"')
    assert "hyperparameters/learning_rate" in label.evidence[0]
    runner_up = classify("grad clip 1.0 + warmdown 0.4").evidence[-1]
    assert runner_up.startswith("text: also schedule")


def test_label_row_matches_the_importer_signature() -> None:
    classifier = Classifier()
    assert classifier.label_row("MATRIX_LR=0.06") == ("hyperparameters", "learning_rate", False)
    assert classifier.label_row("grad clip 1.0 + warmdown 0.4", None) == (
        "optimizer",
        "gradient_clipping",
        True,
    )
    label = classifier.classify("MATRIX_LR=0.06")
    assert isinstance(label, Label)


@given(st.text(max_size=200), st.none() | st.text(max_size=80))
def test_any_text_gives_a_category_of_the_taxonomy(text: str, hypothesis: str | None) -> None:
    label = classify(text, hypothesis=hypothesis)
    assert label.category in CATEGORIES
    assert (
        label.subcategory is None
        or label.subcategory in default_taxonomy()[label.category].subcategory_keys()
    )
    assert label.evidence


_vocab = st.sampled_from(
    [
        "increase",
        "decrease",
        "lr",
        "LR",
        "MATRIX_LR",
        "depth",
        "DEPTH",
        "warmup",
        "warmdown",
        "batch",
        "0.04",
        "->",
        "to",
        "from",
        "2**16",
        "x2",
        "(",
        ")",
        ":",
        ",",
        ";",
        "+",
        "revert",
        "baseline",
        "instead",
        "of",
        "same",
        "hypothesis:",
        "result:",
        "worse",
        "better",
        "SwiGLU",
        "Adam",
        "beta2",
        "muon",
        "clip",
        "grad",
        "seed",
        "compile",
        "bf16",
        "vocab",
        "shuffle",
        "at",
        "after",
        "with",
        "=",
        "5%",
        "halve",
    ]
)


@given(st.lists(_vocab, max_size=25).map(" ".join))
def test_deterministic_on_agent_like_text(text: str) -> None:
    assert classify(text) == Classifier().classify(text) == classify(text)


@pytest.mark.slow
def test_classifies_1e5_descriptions_deterministically() -> None:
    # agent-like descriptions, all different; the benchmark reports the speed
    templates = [
        "exp{i}: MATRIX_LR 0.0{a} -> 0.0{b} (worse)",
        "depth {a} -> {b}, ASPECT_RATIO=64",
        "WARMDOWN_RATIO={a}.{b}: longer cooldown improves convergence",
        "halve batch {i}K to {a}K (more steps)",
        "Adam beta2 0.9{a} -> 0.9{b}",
        "SwiGLU activation, hidden {i} (hypothesis: gating helps; evidence: speedrun): val_bpb 1.{a} -> 1.{b} WORSE",
        "revert exp {i}",
        "vocab {i} -> {a}{b}000",
    ]
    texts = [
        templates[i % len(templates)].format(i=i, a=i % 7 + 1, b=i % 5 + 2) for i in range(100_000)
    ]
    classifier = Classifier()
    first = [classifier.label_row(t) for t in texts]
    assert {c for c, _, _ in first} <= set(CATEGORIES)
    again = Classifier()
    assert [again.label_row(t) for t in texts[::97]] == first[::97]


def test_deterministic_across_processes_and_hash_seeds() -> None:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from hpdream_core import classify\n"
        "texts = json.loads(sys.stdin.read())\n"
        "print(json.dumps([[l.category, l.subcategory, l.multi, list(l.evidence), repr(l.params)]"
        " for l in map(classify, texts)]))\n"
    )
    texts = [
        "grad clip 1.0 + WARMDOWN_RATIO=0.4",
        "SwiGLU MLP, hidden 4x -> 3x (hypothesis: gating; result: worse)",
        "remove value embeddings (VE) + lower LR",
        "Adam beta2 0.95 -> 0.99, cosine warmdown, depth 6",
    ]
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        outputs.add(done.stdout)
    assert len(outputs) == 1
