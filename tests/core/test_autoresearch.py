"""Importing autoresearch results.tsv logs and their real-world variants."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hpdream_core import (
    LogFormatError,
    find_logs,
    import_autoresearch,
    parse_autoresearch,
    read_any,
    read_log,
    write_log,
)

HEADER = "commit\tval_bpb\tmemory_gb\tstatus\tdescription"


def _parse(text: str, **kw: object):  # type: ignore[no-untyped-def]
    return parse_autoresearch(text, "r.tsv", study="s", agent="a", **kw)  # type: ignore[arg-type]


def _corpus_files(corpus_dir: Path) -> list[Path]:
    with (corpus_dir / "MANIFEST.tsv").open() as f:
        return [corpus_dir / row["file"] for row in csv.DictReader(f, delimiter="\t")]


def test_every_corpus_file_imports_and_every_line_is_accounted_for(
    corpus_dir: Path, tmp_path: Path
) -> None:
    files = _corpus_files(corpus_dir)
    assert len(files) == 12
    assert find_logs([corpus_dir]) == sorted(files)  # MANIFEST and LABELS are not logs
    for path in files:
        result = import_autoresearch(path)
        raw_lines = path.read_text(encoding="utf-8").splitlines()
        blank = {i for i, line in enumerate(raw_lines, 1) if not line.strip()}
        rows = {e.source_line for e in result.experiments}
        reported = {r.line for r in result.reported}
        assert not rows & reported
        assert rows | reported | blank | {1} == set(range(1, len(raw_lines) + 1)), path.name
        assert [e.index for e in result.experiments] == list(range(len(result.experiments)))
        assert result.experiments[0].category == "baseline"
        for e in result.experiments:
            assert e.source == str(path)
            if e.status == "crash":
                assert e.val_bpb is None
        # the canonical CSV re-reads to identical rows
        out = tmp_path / f"{path.stem}.csv"
        write_log(out, result.experiments)
        assert read_log(out, strict=True).experiments == result.experiments


def test_corpus_quirks(corpus_dir: Path) -> None:
    by_name = {p.name[:2]: import_autoresearch(p) for p in _corpus_files(corpus_dir)}
    # 01: the first commit is the word 'baseline'; the crash row's 0.000000 is null
    first = by_name["01"].experiments[0]
    assert first.commit is None and dict(first.extras)["raw_commit"] == "baseline"
    crashes = [e for e in by_name["01"].experiments if e.status == "crash"]
    assert len(crashes) == 1 and crashes[0].val_bpb is None and crashes[0].memory_gb is None
    # 04: empty commit cells
    assert sum(e.commit is None for e in by_name["04"].experiments) == 23
    # 05: extra columns kept
    extras = dict(by_name["05"].experiments[1].extras)
    assert {"mfu", "tok_per_sec", "num_steps", "batch_size", "final_loss"} <= set(extras)
    assert by_name["05"].experiments[1].num_params_m == 162.1
    # 06: no memory column
    assert all(e.memory_gb is None for e in by_name["06"].experiments)
    # 08: N/A metrics, kept/reverted/baseline/size_violation, timestamps with an offset
    exps = by_name["08"].experiments
    assert {dict(e.extras)["raw_status"] for e in exps} == {
        "crash",
        "kept",
        "reverted",
        "baseline",
        "size_violation",
    }
    assert all(
        e.started_at is not None and e.started_at.utcoffset().total_seconds() == 0 for e in exps
    )
    assert exps[0].started_at.hour == 7  # 16:50 at +09:00
    assert {e.status for e in exps if dict(e.extras)["raw_status"] == "size_violation"} == {
        "discard"
    }
    rerun = [e for e in exps if dict(e.extras)["raw_status"] == "baseline"]
    assert rerun and all(e.category == "baseline" and e.status == "keep" for e in rerun)
    # 09: three divider lines reported, the space-separated row read
    rep = by_name["09"].reported
    assert [r.line for r in rep] == [8, 13, 19] and all("divider" in r.reason for r in rep)
    spaced = [e for e in by_name["09"].experiments if e.commit == "c326838"]
    assert spaced and spaced[0].val_bpb == 1.316243 and spaced[0].status == "discard"
    assert spaced[0].description.startswith("MoE matrix_lr=0.10 (from 0.08)")


def test_status_words_and_crash_metrics() -> None:
    text = (
        "\n".join(
            [
                HEADER,
                "aaaaaaa\t1.0\t10\tBaseline\tbaseline",
                "bbbbbbb\t0.9\t10\tKEPT\tbetter",
                "ccccccc\t0.000000\t0.0\tCRASH\tOOM",
                "ddddddd\tN/A\t\tcrashed\tno metrics",
                "eeeeeee\t1.1\t10\tReverted\tworse",
                "fffffff\t1.1\t10\tmystery\twhat",
            ]
        )
        + "\n"
    )
    r = _parse(text)
    assert [e.status for e in r.experiments] == ["keep", "keep", "crash", "crash", "discard"]
    assert r.experiments[2].val_bpb is None and r.experiments[2].memory_gb is None
    assert [(x.line, x.column) for x in r.reported] == [(7, "status")]
    with pytest.raises(LogFormatError, match=r"r.tsv, line 7, column 'status'"):
        _parse(text, strict=True)


def test_other_layouts() -> None:
    csv_text = 'experiment,commit,val_bpb,status,description,timestamp\n0,abc1234,1.5,keep,"base, line",2026-01-01T00:00:00Z\n'
    r = _parse(csv_text)
    assert r.experiments[0].description == "base, line"
    assert dict(r.experiments[0].extras)["experiment"] == "0"
    reordered = "status\tdescription\tval_bpb\nkeep\tbase\t1.5\ndiscard\tlr up\t1.6\n"
    r = _parse(reordered)
    assert [e.val_bpb for e in r.experiments] == [1.5, 1.6]
    spaces = "commit val_bpb memory_gb status description\nabc1234 1.5 2.0 keep the baseline run\n"
    assert _parse(spaces).experiments[0].description == "the baseline run"
    tabs_inside = HEADER + "\nabc1234\t1.5\t2\tkeep\ta\tb\tc\n"
    assert _parse(tabs_inside).experiments[0].description == "a\tb\tc"
    short = HEADER + "\nabc1234\t1.5\t2\tkeep\n"
    assert _parse(short).experiments[0].description == ""
    too_short = HEADER + "\nabc1234\t1.5\n"
    assert _parse(too_short).reported[0].line == 2
    repeated = HEADER + "\nabc1234\t1.5\t2\tkeep\tbase\n" + HEADER + "\n"
    assert _parse(repeated).reported[0].reason == "repeated header line"
    crlf = HEADER + "\r\nabc1234\t1.5\t2\tkeep\tbase\r\n\r\nabc1235\t1.4\t2\tkeep\tnext\r\n"
    assert [e.source_line for e in _parse(crlf).experiments] == [2, 4]


def test_not_a_log() -> None:
    with pytest.raises(LogFormatError, match="no val_bpb"):
        _parse("file\tline\tcategory\nx\t1\tarchitecture\n")
    with pytest.raises(LogFormatError, match="empty"):
        _parse("\n\n")


def test_non_positive_val_bpb_on_a_kept_row_is_reported() -> None:
    r = _parse(HEADER + "\nabc1234\t0.0\t2\tkeep\tbase\n")
    assert r.experiments == () and r.reported[0].column == "val_bpb"


@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40), max_size=12))
def test_every_line_is_a_row_or_reported(lines: list[str]) -> None:
    text = (
        HEADER
        + "\n"
        + "\n".join(line.replace("\r", " ").replace("\n", " ") for line in lines)
        + "\n"
    )
    r = _parse(text)
    physical = text.split("\n")[:-1]
    blank = {i for i, line in enumerate(physical, 1) if not line.strip()}
    accounted = {e.source_line for e in r.experiments} | {x.line for x in r.reported}
    assert accounted | blank | {1} == set(range(1, len(physical) + 1))


def test_read_any_takes_both_formats(corpus_dir: Path, tmp_path: Path) -> None:
    src = _corpus_files(corpus_dir)[2]
    imported = read_any(src, study="x")
    out = tmp_path / "e.csv"
    write_log(out, imported.experiments)
    again = read_any(out)
    assert again.experiments == imported.experiments
    assert read_any(out, agent="renamed").experiments[0].agent == "renamed"
