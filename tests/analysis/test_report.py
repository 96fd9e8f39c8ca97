"""The report: FINDINGS.md, report.html, figures, progress and the report commands."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import hpdream_analysis as ha
from hpdream_analysis import _html, _report
from hpdream_core import Experiment, HpdreamError, write_log
from tests.analysis.test_charts import synthetic_study

FIGURES = (
    "dashboard",
    "convergence",
    "experiments",
    "categories",
    "timeline",
    "personal-bests",
    "success-rate",
    "dry-streaks",
    "after-failure",
    "entropy",
    "breadth",
)


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    """The frame as a canonical experiments CSV (core's writer)."""
    rows = frame.drop("format_version").to_dicts()
    write_log(
        path, [Experiment.from_values({k: v for k, v in r.items() if v is not None}) for r in rows]
    )
    return path


@pytest.fixture(scope="module")
def study() -> pl.DataFrame:
    return synthetic_study(("alpha", "beta", "gamma"), experiments=20, seed=4)


@pytest.fixture(scope="module")
def report(study: pl.DataFrame) -> ha.Report:
    return ha.build_report(study, title="A study", sources=["log.csv"])


def markdown_table(text: str, after: str) -> list[list[str]]:
    """The rows (cells) of the first Markdown table after the heading ``after``."""
    lines = text[text.index(after) :].splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[first:]:
        if not line.startswith("|"):
            break
        if not re.fullmatch(r"\|( *:?-+:? *\|)+", line):
            table.append([c.strip() for c in line.strip("|").split(" | ")])
    return table


def test_findings_has_results_hypotheses_profiles_and_figures(
    report: ha.Report, study: pl.DataFrame
) -> None:
    md = report.to_markdown()
    assert md.startswith("# A study\n")
    for heading in (
        "## Overview",
        "## Results",
        "## Hypotheses",
        "## Agent profiles",
        "## Figures",
    ):
        assert heading in md
    table = markdown_table(md, "## Results")
    assert table[0][:3] == ["rank", "agent", "best val_bpb"]
    assert {"experiments", "success rate", "categories explored"} <= set(table[0])
    body = table[1:]
    assert [r[0] for r in body] == ["1", "2", "3"]
    summary = ha.summarize(study.lazy()).collect().sort("best_val_bpb")
    assert [r[1] for r in body] == summary["agent"].to_list()  # ranked by best val_bpb
    assert [float(r[2]) for r in body] == pytest.approx(summary["best_val_bpb"].to_list(), abs=1e-4)
    assert [int(r[table[0].index("experiments")]) for r in body] == summary["experiments"].to_list()
    hypotheses = markdown_table(md, "## Hypotheses")
    assert [r[0] for r in hypotheses[1:]] == ["H1", "H2", "H3a", "H3b", "H4", "H5", "H6", "H7"]
    for agent in ("alpha", "beta", "gamma"):
        assert f"### {agent}\n" in md
    for name in FIGURES:
        assert f"](figures/{name}.png)" in md and f"[PDF](figures/{name}.pdf)" in md
    without = report.to_markdown(formats=())
    assert "](figures/" not in without and "interactive in report.html" in without


def test_profiles_state_the_metrics_in_words(report: ha.Report, study: pl.DataFrame) -> None:
    md = report.to_markdown()
    row = ha.summarize(study.lazy()).collect().filter(pl.col("agent") == "beta").row(0, named=True)
    profile = md[md.index("### beta") :].split("###")[1]
    assert f"{row['experiments']} experiments after the baseline" in profile
    assert f"kept {row['kept']}" in profile
    assert f"{row['categories_explored']} categories explored" in profile
    assert f"entropy {row['category_entropy_bits']:.2f} bits" in profile
    assert f"Longest dry streak: {row['max_dry_streak']} experiment" in profile
    assert f"changed category {100 * row['pivot_rate']:.0f} %" in profile


def test_different_baselines_rank_by_gain_and_say_so() -> None:
    frame = synthetic_study(("a", "b", "c"), experiments=15, baseline_spread=0.4, seed=5)
    md = ha.build_report(frame).to_markdown()
    assert "baselines differ" in md
    body = markdown_table(md, "## Results")[1:]
    gains = [float(r[4].rstrip(" %")) for r in body]
    assert gains == sorted(gains, reverse=True)
    assert "gain over the run's own baseline" in md


def test_replicates_get_a_table_of_means_over_runs() -> None:
    frame = synthetic_study(("alpha", "beta"), runs=3, experiments=10, seed=6)
    md = ha.build_report(frame).to_markdown()
    table = markdown_table(md, "## Replicates")
    assert table[0][:3] == ["agent", "runs", "best val_bpb"]
    assert [r[:2] for r in table[1:]] == [["alpha", "3"], ["beta", "3"]]
    best = ha.summarize(frame.lazy()).collect().group_by("agent").agg(pl.col("best_val_bpb").mean())
    mean = dict(best.iter_rows())
    for r in table[1:]:
        shown, se = r[2].split(" ± ")
        assert float(shown) == pytest.approx(mean[r[0]], abs=1e-4) and float(se) > 0
    assert (
        "## Replicates" not in ha.build_report(synthetic_study(("a",), experiments=5)).to_markdown()
    )


def test_a_crashed_baseline_is_reported() -> None:
    frame = synthetic_study(("a", "b"), experiments=6, baseline_spread=0.3).with_columns(
        pl.when((pl.col("agent") == "b") & (pl.col("index") == 0))
        .then(None)
        .otherwise(pl.col("val_bpb"))
        .alias("val_bpb"),
        pl.when((pl.col("agent") == "b") & (pl.col("index") == 0))
        .then(pl.lit("crash"))
        .otherwise(pl.col("status"))
        .alias("status"),
    )
    md = ha.build_report(frame).to_markdown()
    assert "No baseline val_bpb for b" in md


def test_an_empty_frame_is_a_clear_error(study: pl.DataFrame) -> None:
    with pytest.raises(HpdreamError, match="no experiments"):
        ha.build_report(study.head(0))


@pytest.mark.slow
def test_write_report_writes_every_file(tmp_path: Path, study: pl.DataFrame) -> None:
    calls: list[tuple[int, int, str]] = []
    # PNG, SVG and PDF of single charts: test_save_chart_formats and test_charts.py
    page = ha.write_report(
        study, tmp_path / "out", progress=lambda d, t, w: calls.append((d, t, w)), formats=("pdf",)
    )
    out = tmp_path / "out"
    assert page == out / "report.html"
    magic = {"pdf": b"%PDF"}
    for name in FIGURES:
        for fmt, head in magic.items():
            data = (out / "figures" / f"{name}.{fmt}").read_bytes()
            assert data.lstrip()[: len(head)] == head, (name, fmt)
    md = (out / "FINDINGS.md").read_text()
    links = re.findall(r"\]\((figures/[^)]+)\)", md)
    assert links == [f"figures/{name}.pdf" for name in FIGURES]  # only what was written
    assert all((out / link).is_file() for link in links)
    # progress: monotone, ends at the total, names each figure
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]
    assert len({t for _, t, _ in calls}) == 1
    assert any("figures/dashboard" in w for _, _, w in calls)


def test_report_html_is_self_contained(tmp_path: Path, study: pl.DataFrame) -> None:
    page = ha.write_report(study, tmp_path, formats=())
    text = page.read_text()
    assert not (tmp_path / "figures" / "dashboard.png").exists()
    assert "<script src" not in text and "<link" not in text
    assert not re.search(r"""(src|href)=["']?https?:""", text)
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in text
    assert "vegaEmbed" in text and len(text) > 500_000  # the libraries are inlined
    specs = re.findall(
        r'<script type="application/json" id="spec-([^"]+)">(.*?)</script>', text, re.S
    )
    assert [name for name, _ in specs] == list(FIGURES)
    for _, spec in specs:
        assert json.loads(spec)["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert text.count('class="hpdream-chart"') == len(FIGURES)
    assert f'id="{_html.STATUS_ID}"' in text
    assert "sortable" in text  # tables sort on click


def test_charts_share_their_tables_and_lose_nothing(study: pl.DataFrame) -> None:
    report = ha.build_report(study)
    text = report.to_html()
    shared = json.loads(
        re.search(
            rf'<script type="application/json" id="{_html.DATASETS_ID}">(.*?)</script>', text, re.S
        ).group(1)  # type: ignore[union-attr]
    )
    containers = dict(re.findall(r'data-spec="spec-([^"]+)" data-datasets="([^"]*)"', text))
    specs = dict(
        re.findall(r'<script type="application/json" id="spec-([^"]+)">(.*?)</script>', text, re.S)
    )
    assert set(containers) == set(specs) == set(FIGURES)
    originals = {c.name: c.spec for c in report.blocks if isinstance(c, _report.Figure)}

    def rows(table: list[dict[str, object]]) -> list[dict[str, object]]:
        if len(table) == 1 and all(isinstance(v, list) for v in table[0].values()):
            columns = table[0]
            n = len(next(iter(columns.values())))
            return [{c: columns[c][i] for c in columns} for i in range(n)]  # type: ignore[index]
        return table

    def restore(node: object) -> object:
        if isinstance(node, dict):
            if str(node.get("name", "")).startswith("d-") and set(node) == {"name"}:
                return {"values": rows(shared[node["name"]])}
            out = {k: restore(v) for k, v in node.items()}
            transform = out.get("transform")
            if isinstance(transform, list) and transform and "flatten" in transform[0]:
                # the flatten put in front of a table stored by column
                out["transform"] = transform[1:]
                if not out["transform"]:
                    del out["transform"]
            return out
        if isinstance(node, list):
            return [restore(v) for v in node]
        return node

    for name, spec_text in specs.items():
        spec = json.loads(spec_text)
        assert '"values":[{' not in spec_text  # no table left inline
        used = containers[name].split()
        assert used and all(n in shared for n in used)
        assert restore(spec) == json.loads(json.dumps(originals[name]))
    # every table is written once, and is used
    assert set(shared) == {n for names in containers.values() for n in names.split()}


def test_datasets_take_only_data_tables() -> None:
    store = _html.Datasets()
    spec = {
        "data": {"values": [{"x": 1}], "format": {"type": "json"}},
        "layer": [
            {"data": {"values": [{"x": 1}]}, "encoding": {"x": {"axis": {"values": [0, 1]}}}}
        ],
    }
    hoisted, used = store.hoist(spec)
    assert len(used) == 1 and len(store) == 1  # the same table twice is kept once
    assert hoisted["data"] == {"format": {"type": "json"}, "name": used[0]}
    assert hoisted["layer"][0]["data"] == {"name": used[0]}
    assert hoisted["layer"][0]["encoding"]["x"]["axis"]["values"] == [0, 1]
    assert spec["data"]["values"] == [{"x": 1}]  # the spec given is not changed


def test_tables_of_records_are_stored_by_column() -> None:
    store = _html.Datasets()
    rows = [{"a": 1, "b": "x"}, {"a": None, "b": "y"}]
    hoisted, used = store.hoist({"data": {"values": rows}, "transform": [{"filter": "true"}]})
    assert store.tables[used[0]] == [{"a": [1, None], "b": ["x", "y"]}]
    assert hoisted["transform"] == [{"flatten": ["a", "b"]}, {"filter": "true"}]
    # ragged records, array fields and a lookup's data stay as rows
    for values in ([{"a": 1}, {"b": 2}], [{"a": [1]}, {"a": [2]}]):
        hoisted, used = store.hoist({"data": {"values": values}})
        assert store.tables[used[0]] == values and "transform" not in hoisted
    lookup = {"lookup": "k", "from": {"data": {"values": rows}, "key": "a", "fields": ["b"]}}
    hoisted, used = store.hoist({"transform": [lookup]})
    assert store.tables[used[0]] == rows


def test_text_is_escaped_in_html_and_markdown(tmp_path: Path) -> None:
    frame = synthetic_study(("<b>bold</b>|x_", "plain"), experiments=4).with_columns(
        pl.when(pl.col("index") == 1)
        .then(pl.lit("</script><script>alert(1)</script> a|b *c*"))
        .otherwise(pl.col("description"))
        .alias("description")
    )
    report = ha.build_report(frame)
    html = report.to_html()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "</script><script>alert(1)" not in html
    md = report.to_markdown()
    assert "\\<b\\>bold\\</b\\>\\|x\\_" in md


@given(st.text(max_size=60))
def test_script_json_round_trips_and_cannot_end_a_script(value: str) -> None:
    text = _html.script_json({"v": value})
    assert json.loads(text) == {"v": value}
    assert "</" not in text and "<!--" not in text


@given(st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=60))
def test_markdown_escaping_loses_nothing(value: str) -> None:
    escaped = _report._md_text(value)
    assert re.sub(r"\\(.)", r"\1", escaped) == value
    # nothing that could start markup is left unescaped
    unescaped = re.sub(r"\\.", "", escaped)
    assert not set("`*[]<>|#\\") & set(unescaped)


def test_progress_printer_lines_and_terminal() -> None:
    plain = io.StringIO()
    show = ha.progress_printer(plain)
    for i in range(3):
        show(i, 3, f"step {i}")
    show(3, 3, "done")
    assert plain.getvalue().splitlines() == [
        "[0/3] step 0",
        "[1/3] step 1",
        "[2/3] step 2",
        "[3/3] done",
    ]

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    show = ha.progress_printer(tty)
    show(0, 2, "a long first step")
    show(2, 2, "end")
    first = "[0/2] a long first step"
    assert tty.getvalue() == f"\r{first}\r{'[2/2] end'.ljust(len(first))}\n"


def test_save_chart_formats(tmp_path: Path, study: pl.DataFrame) -> None:
    chart = ha.category_distribution_chart(study)
    written = ha.save_chart(chart, tmp_path / "mix", "png", "svg", "pdf")
    assert [p.name for p in written] == ["mix.png", "mix.svg", "mix.pdf"]
    assert ha.save_chart(chart, tmp_path / "one.svg")[0].read_text().startswith("<svg")
    with pytest.raises(HpdreamError, match="unknown figure format"):
        ha.save_chart(chart, tmp_path / "x.gif")


# --- the commands ----------------------------------------------------------------


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory, study: pl.DataFrame) -> Path:
    return write_csv(study, tmp_path_factory.mktemp("logs") / "experiments.csv")


def test_python_m_report_command(
    tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _report.main(
        ["report", str(log), "-o", str(tmp_path / "r"), "--formats", "svg", "--title", "T"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert f"report: {tmp_path / 'r' / 'report.html'}" in out
    assert "[" in err and "report.html" in err  # progress on standard error
    assert (tmp_path / "r" / "figures" / "dashboard.svg").is_file()
    assert not (tmp_path / "r" / "figures" / "dashboard.png").exists()
    assert (tmp_path / "r" / "FINDINGS.md").read_text().startswith("# T\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--formats", "gif"], "--formats: unknown format(s) gif"),
        (["--context-pair", "onlyone"], "--context-pair: give two agents"),
        (["--window", "0"], "--window must be at least 1"),
    ],
)
def test_bad_options_are_clear_errors(
    tmp_path: Path, log: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code = _report.main(["report", str(log), "-o", str(tmp_path), "-q", *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_logs_are_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = _report.main(["report", str(tmp_path / "nowhere"), "-o", str(tmp_path / "r"), "-q"])
    assert code == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "no such file" in err
    (tmp_path / "empty").mkdir()
    assert _report.main(["report", str(tmp_path / "empty"), "-o", str(tmp_path / "r"), "-q"]) == 2
    assert "no logs found" in capsys.readouterr().err


def test_hpdream_run_report_has_the_same_options(tmp_path: Path, log: Path) -> None:
    import argparse

    from hpdream_runner.cli import build_parser, main

    def options(parser: argparse.ArgumentParser) -> dict[str, tuple[object, ...]]:
        return {
            a.dest: (tuple(a.option_strings), a.default, a.nargs, a.required)
            for a in parser._actions
            if a.dest != "help"
        }

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    runner = commands.choices["report"]
    analysis = argparse.ArgumentParser()
    _report.add_report_arguments(analysis)
    assert options(runner) == options(analysis)
    assert main(["report", str(log), "-o", str(tmp_path), "--formats", "none", "-q"]) == 0
    assert (tmp_path / "report.html").is_file()


@pytest.mark.slow
def test_report_command_runs_without_torch(tmp_path: Path, log: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from importlib.abc import MetaPathFinder

        class NoTorch(MetaPathFinder):
            # as if torch were not installed: finding it fails like a missing module
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, NoTorch())
        sys.argv = ["hpdream_analysis", "report", {str(log)!r}, "-o", {str(tmp_path)!r}, "--formats", "none", "-q"]
        import runpy
        try:
            runpy.run_module("hpdream_analysis", run_name="__main__")
        except SystemExit as exit:
            assert "torch" not in sys.modules, "torch was imported"
            raise SystemExit(exit.code)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "FINDINGS.md").is_file()


@pytest.mark.shared
def test_corpus_report_compares_the_public_runs(corpus_dir: Path) -> None:
    frame, sources, skipped = _report._load([corpus_dir], None)
    md = ha.build_report(frame, sources=sources, skipped=skipped).to_markdown()
    body = markdown_table(md, "## Results")[1:]
    assert len(body) == len(sources) == 12
    assert "baselines differ" in md and "ranked by their gain" in md
    gains = [float(r[4].rstrip(" %")) for r in body if r[4] != "–"]
    assert gains == sorted(gains, reverse=True) and len(gains) == 11
    assert body[-1][1] == "08_anaclumos__parameter-golf"  # its baseline crashed: no gain
    assert "No baseline val_bpb for 08_anaclumos__parameter-golf" in md
    assert "divider line" in md  # the lines that are not experiments are listed
    # categories come from the classifier, not "unknown"
    profiles = md[md.index("## Agent profiles") :]
    assert "mostly unknown" not in profiles and "architecture" in profiles


def test_the_vega_bundle_is_cached(tmp_path: Path) -> None:
    first = _html.load_bundle(tmp_path)
    (cached,) = tmp_path.glob("vega-bundle-*.js")
    assert cached.read_text(encoding="utf-8") == first and "vegaEmbed" in first
    cached.write_text("// cached copy", encoding="utf-8")
    assert _html.load_bundle(tmp_path) == "// cached copy"
