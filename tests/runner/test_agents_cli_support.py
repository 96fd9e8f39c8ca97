"""What the external agents share: usage, prices, transcripts, limits, options."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import LogFormatError
from hpdream_runner.agents.limits import LimitError, LimitTracker, RunLimits
from hpdream_runner.agents.options import AgentConfigError, Option, parse_options
from hpdream_runner.agents.pricing import PriceTable, PricingError
from hpdream_runner.agents.redact import REDACTED, Redactor
from hpdream_runner.agents.transcript import (
    EVENT_KINDS,
    TranscriptEvent,
    TranscriptWriter,
    Usage,
    read_transcript,
)

counts = st.integers(0, 10**9)
usages = st.builds(
    Usage,
    input_tokens=counts,
    output_tokens=counts,
    cached_input_tokens=counts,
    cache_write_tokens=counts,
    reasoning_tokens=counts,
    turns=st.integers(0, 10**6),
    cost_usd=st.none() | st.floats(0, 1e4, allow_nan=False),
)


# -- usage ------------------------------------------------------------------------------------


@given(usages, usages)
def test_usage_adds_field_by_field_and_remainder_undoes_it(a: Usage, b: Usage) -> None:
    total = a + b
    assert total.input_tokens == a.input_tokens + b.input_tokens
    assert total.turns == a.turns + b.turns
    assert total.total_tokens == a.total_tokens + b.total_tokens
    if a.cost_usd is None and b.cost_usd is None:
        assert total.cost_usd is None
    back = total.remainder(a)
    assert (back.input_tokens, back.output_tokens, back.turns) == (
        b.input_tokens,
        b.output_tokens,
        b.turns,
    )
    assert Usage.from_dict(total.to_dict()) == total


@given(usages, usages)
def test_remainder_is_never_negative(a: Usage, b: Usage) -> None:
    r = a.remainder(b)
    assert min(r.input_tokens, r.output_tokens, r.cached_input_tokens, r.turns) >= 0
    assert r.cost_usd is None or r.cost_usd >= 0


# -- prices -----------------------------------------------------------------------------------


def test_default_prices_and_lookup() -> None:
    t = PriceTable.default()
    u = Usage(input_tokens=2_000_000, cached_input_tokens=1_000_000, output_tokens=1_000_000)
    assert t.cost("gpt-5.4", u) == pytest.approx(2.5 + 0.25 + 15.0)
    assert t.cost("claude-opus-4-6[1m]", u) == t.cost("claude-opus-4-6", u)
    assert t.lookup("claude-sonnet-4-6-20260217") is t.lookup("claude-sonnet-4-6")
    assert t.lookup("gpt-5.4-mini") is not t.lookup("gpt-5.4")
    assert t.cost("my-local-model", u) is None and t.cost(None, u) is None
    writes = Usage(input_tokens=1_000_000, cache_write_tokens=1_000_000)
    assert t.cost("claude-sonnet-4-6", writes) == pytest.approx(3.75)


def test_long_context_tier_applies_to_one_request_only() -> None:
    t = PriceTable.default()
    big = Usage(input_tokens=300_000, output_tokens=10_000)
    assert t.cost("gpt-5.4", big, single_request=True) == pytest.approx(
        (300_000 * 5.0 + 10_000 * 22.5) / 1e6
    )
    assert t.cost("gpt-5.4", big) == pytest.approx((300_000 * 2.5 + 10_000 * 15.0) / 1e6)
    assert t.priced("gpt-5.4", big.evolve(cost_usd=1.0)).cost_usd == 1.0  # a known cost is kept


def test_a_user_table_replaces_and_adds_models(tmp_path: Path) -> None:
    f = tmp_path / "prices.toml"
    f.write_text(
        'format_version = 1\n[models."gpt-5.4"]\ninput = 1.0\noutput = 2.0\n[models."qwen3"]\ninput = 0\noutput = 0\n'
    )
    t = PriceTable.load(f)
    assert t.cost("gpt-5.4", Usage(input_tokens=10**6, cached_input_tokens=10**6)) == pytest.approx(
        1.0
    )
    assert t.cost("qwen3", Usage(input_tokens=5)) == 0.0
    assert t.lookup("claude-opus-4-6") is not None
    assert str(f) in t.sources


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[models."m"]\ninput = 1\n', "models.'m': missing 'output'"),
        ('[models."m"]\ninput = "1"\noutput = 1\n', "input must be a number"),
        ('[models."m"]\ninput = 1\noutput = 1\nouput = 2\n', "unknown keys ['ouput']"),
        (
            '[models."m"]\ninput = 1\noutput = 1\n[models."m".long_context]\ninput = 2\n',
            "missing 'above'",
        ),
        ("format_version = 2\n", "format_version: 2 is not 1"),
        ("models = 3\n", "models: must be a table"),
        ("[models\n", "not valid TOML"),
    ],
)
def test_bad_price_tables_say_where_and_why(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "p.toml"
    f.write_text(text)
    with pytest.raises(PricingError) as info:
        PriceTable.load(f)
    assert str(f) in str(info.value) and message in str(info.value)
    with pytest.raises(PricingError, match="cannot read"):
        PriceTable.load(tmp_path / "missing.toml")


# -- transcripts ------------------------------------------------------------------------------

events = st.builds(
    TranscriptEvent,
    kind=st.sampled_from(EVENT_KINDS),
    text=st.text(max_size=50),
    role=st.none() | st.sampled_from(["user", "assistant"]),
    tool=st.none() | st.text(min_size=1, max_size=10),
    call_id=st.none() | st.text(min_size=1, max_size=10),
    data=st.dictionaries(
        st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=10), max_size=3
    ),
    at=st.datetimes(timezones=st.just(UTC)),
)


@given(st.lists(events, max_size=8))
def test_transcripts_round_trip(
    tmp_path_factory: pytest.TempPathFactory, evs: list[TranscriptEvent]
) -> None:
    path = tmp_path_factory.mktemp("t") / "t.jsonl"
    with TranscriptWriter(path, redactor=Redactor(), header={"agent": "a"}) as w:
        w.write_all(evs)
    t = read_transcript(path)
    assert t.header["agent"] == "a"
    assert list(t.events) == [TranscriptEvent.from_dict(e.to_dict()) for e in evs]


def test_transcripts_are_redacted_and_appendable(tmp_path: Path) -> None:
    key = "sk-ant-api03-cmVkYWN0ZWQtaW4tdHJhbnNjcmlwdHM"
    path = tmp_path / "t.jsonl"
    w = TranscriptWriter(path, redactor=Redactor([key]), header={"model": "m"})
    w.write(TranscriptEvent("tool_result", text=f"env: ANTHROPIC_API_KEY={key}", data={key: [key]}))
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(TranscriptEvent("raw"))
    TranscriptWriter(path, redactor=Redactor()).write(TranscriptEvent("message", text="more"))
    text = path.read_text()
    assert key not in text and REDACTED in text
    t = read_transcript(path)
    assert [e.kind for e in t] == ["tool_result", "message"]  # one header, events appended


def test_bad_transcripts_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"format": "hpdream-transcript", "format_version": 1}) + "\n{oops\n")
    with pytest.raises(LogFormatError, match="line 2: not JSON"):
        read_transcript(path)
    path.write_text(json.dumps({"format": "hpdream-transcript", "format_version": 9}) + "\n")
    with pytest.raises(LogFormatError, match="format_version 9"):
        read_transcript(path)
    path.write_text(json.dumps({"kind": "raw", "at": datetime.now(UTC).isoformat()}) + "\n")
    with pytest.raises(LogFormatError, match="no header"):
        read_transcript(path)
    path.write_text(
        json.dumps({"format": "hpdream-transcript", "format_version": 1})
        + "\n"
        + json.dumps({"kind": "nope", "at": "2026-01-01T00:00:00+00:00"})
        + "\n"
    )
    with pytest.raises(LogFormatError, match="line 2: not a transcript event"):
        read_transcript(path)


# -- limits -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_step_time_excludes_the_harness_experiments() -> None:
    clock = Clock()
    tracker = LimitTracker(RunLimits(max_step_seconds=10, max_seconds=100), clock=clock)
    clock.t += 6
    tracker.pause()  # an experiment starts
    clock.t += 50  # training: the harness's time
    assert tracker.step_seconds() == pytest.approx(6)
    assert tracker.check() is None
    tracker.resume()  # the next step
    clock.t += 9
    assert tracker.check() is None
    clock.t += 1
    hit = tracker.check()
    assert (
        hit is not None
        and hit.limit == "max_step_seconds"
        and hit.reason == "max_step_seconds: 10 >= 10"
    )
    assert tracker.seconds_left() == 0
    clock.t += 40
    tracker.resume()
    hit = tracker.check()
    assert hit is not None and hit.limit == "max_seconds"


def test_usage_limits() -> None:
    tracker = LimitTracker(
        RunLimits(max_turns=3, max_tokens=1000, max_cost_usd=0.5, max_step_turns=2)
    )
    tracker.add(Usage(turns=1, input_tokens=100, cost_usd=0.1))
    assert tracker.check() is None
    tracker.add(Usage(turns=1))
    assert tracker.check() is not None and tracker.check().limit == "max_step_turns"  # type: ignore[union-attr]
    tracker.resume()
    assert tracker.check() is None
    tracker.add(Usage(output_tokens=950, cost_usd=0.45))
    reached = tracker.check()
    assert reached is not None and reached.limit == "max_tokens"


def test_bad_limits_are_named() -> None:
    with pytest.raises(LimitError, match=r"unknown limits \['max_cost'\]"):
        RunLimits.from_mapping({"max_cost": 3})
    with pytest.raises(LimitError, match="max_turns must be a positive number"):
        RunLimits.from_mapping({"max_turns": 0})
    with pytest.raises(LimitError, match="max_seconds must be a positive number"):
        RunLimits(max_seconds=-1.0)
    assert RunLimits.from_mapping({"max_cost_usd": 2}).to_dict() == {"max_cost_usd": 2}


def test_options_are_checked() -> None:
    opts = (
        Option("n", "int", 3, "a count", minimum=1),
        Option("mode", "str", "a", "a choice", choices=("a", "b")),
        Option("names", "list", (), "names"),
        Option("env", "table", {}, "variables"),
        Option("body", "object", {}, "anything"),
        Option("ratio", "float", 0.5, "a ratio"),
    )
    got = parse_options(
        "x", opts, {"n": 2.0, "names": ["a"], "env": {"A": True}, "body": {"k": [1]}, "ratio": 1}
    )
    assert got == {
        "n": 2,
        "mode": "a",
        "names": ("a",),
        "env": {"A": "true"},
        "body": {"k": [1]},
        "ratio": 1.0,
    }
    for bad, message in [
        ({"n": 0}, "must be >= 1"),
        ({"n": 1.5}, "whole number"),
        ({"mode": "c"}, "not one of"),
        ({"names": "a"}, "list of strings"),
        ({"env": {"A": [1]}}, "table of strings"),
        ({"ratio": float("inf")}, "finite"),
        ({"extra": 1}, "unknown options ['extra']"),
    ]:
        with pytest.raises(AgentConfigError, match="agent 'x'") as info:
            parse_options("x", opts, bad)
        assert message in str(info.value)
