"""A self-contained HTML page for charts and tables, readable with no network.

The Vega, Vega-Lite and Vega-Embed libraries come from ``vl-convert-python``
(:func:`vl_convert.javascript_bundle`) and are inlined into the page, never
loaded from a CDN. Chart specifications sit in ``<script type="application/json">``
elements, one per chart container; a small script embeds each of them and
records what happened in a status element (``#hpdream-render-status``):
how many charts rendered, and every error or warning the page logged
(``window.onerror``, rejected promises, ``console.error``/``console.warn``).
A person sees the same record as a red box when something failed; a headless
browser reads it from the DOM.

Charts of one page draw the same experiments many times (the dashboard
repeats several of them), so a :class:`Datasets` store takes the inline data
out of the specs: each distinct table is written once, in
``<script type="application/json" id="hpdream-datasets">``, and a spec names it
(``{"data": {"name": "d-..."}}``); the embedding script hands each chart the
tables it names as Vega-Lite ``datasets``. Tables are stored by column, and a
``flatten`` transform turns them back into rows.
"""

from __future__ import annotations

import functools
import hashlib
import html
import importlib.metadata
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: Class of every chart container; the status element counts them.
CHART_CLASS = "hpdream-chart"
#: Id of the element that records rendering and errors.
STATUS_ID = "hpdream-render-status"
#: Id of the element holding the tables the charts share.
DATASETS_ID = "hpdream-datasets"


class Datasets:
    """Tables taken out of chart specs, each distinct one kept once (see the module's doc).

    A table of records that share their fields is stored by column (one
    object of arrays: the field names are not repeated on every row), and the
    view that draws it gets a ``flatten`` transform first, which turns it back
    into the same rows.
    """

    def __init__(self) -> None:
        self.tables: dict[str, list[Any]] = {}

    def hoist(self, spec: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """``spec`` with every inline ``{"data": {"values": [...]}}`` replaced by a name, and
        the names it uses."""
        used: list[str] = []

        def walk(node: Any, parent: str | None) -> Any:
            if isinstance(node, dict):
                out: dict[str, Any] = {}
                flatten: list[str] | None = None
                for key, value in node.items():
                    if (
                        key == "data"
                        and isinstance(value, dict)
                        and isinstance(value.get("values"), list)
                    ):
                        # a lookup's "from" data takes no transform: keep its rows
                        out[key], flatten = self._named(value, used, by_column=parent != "from")
                    else:
                        out[key] = walk(value, key)
                if flatten:
                    out["transform"] = [{"flatten": flatten}, *out.get("transform", [])]
                return out
            if isinstance(node, list):
                return [walk(v, parent) for v in node]
            return node

        return walk(dict(spec), None), used

    def _named(
        self, data: Mapping[str, Any], used: list[str], *, by_column: bool
    ) -> tuple[dict[str, Any], list[str] | None]:
        values: list[Any] = data["values"]
        # a "format" (parse directives) would apply to the columns' arrays: keep such rows
        columns = _columns(values) if by_column and "format" not in data else None
        table = values if columns is None else [{c: [row[c] for row in values] for c in columns}]
        text = json.dumps(table, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        name = "d-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
        self.tables.setdefault(name, table)
        if name not in used:
            used.append(name)
        rest = {k: v for k, v in data.items() if k != "values"}
        return {**rest, "name": name}, columns

    def __len__(self) -> int:
        return len(self.tables)


def _columns(values: list[Any]) -> list[str] | None:
    """The shared fields of a table of records worth storing by column, else None."""
    if len(values) < 2 or not all(isinstance(v, dict) for v in values):
        return None
    columns = list(values[0])
    if not columns or any(list(v) != columns for v in values):
        return None
    if any(isinstance(v, list) for row in values for v in row.values()):
        return None  # flatten would spread a field that is already an array
    return columns


@functools.cache
def vega_bundle() -> str:
    """The Vega, Vega-Lite and Vega-Embed JavaScript, as one script (about 0.9 MB).

    vl-convert builds it (about 2 s), once per version of vl-convert: it is kept
    in the user's cache folder (``$XDG_CACHE_HOME/hpdream``, else
    ``~/.cache/hpdream``) and, within a process, in memory. Where the cache
    cannot be written the bundle is simply built again next time.
    """
    return load_bundle(_cache_dir())


def load_bundle(cache_dir: Path) -> str:
    """The bundle from ``cache_dir``, built and stored there when it is not there yet."""
    import vl_convert

    cache = cache_dir / f"vega-bundle-{importlib.metadata.version('vl-convert-python')}.js"
    try:
        return cache.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    bundle = str(vl_convert.javascript_bundle())  # type: ignore[call-arg]  # snippet defaults to None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        partial.write_text(bundle, encoding="utf-8")
        partial.replace(cache)  # atomic: readers never see half a bundle
    except OSError:
        pass
    return bundle


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hpdream"


def escape(text: object) -> str:
    """HTML-escape text (quotes included, so it is safe in attributes too)."""
    return html.escape(str(text), quote=True)


def script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chart_container(
    chart_id: str,
    spec: Mapping[str, Any],
    *,
    title: str,
    caption: str,
    datasets: Datasets | None = None,
) -> str:
    """A figure holding one interactive chart: its container, spec and caption.

    With ``datasets``, the spec's inline tables go to that store (give the same
    store to :func:`page`).
    """
    cid = escape(chart_id)
    names = ""
    if datasets is not None:
        spec, used = datasets.hoist(spec)
        names = f' data-datasets="{escape(" ".join(used))}"'
    return (
        f'<figure class="hpdream-figure" id="figure-{cid}">\n'
        f'<div class="chart-scroll"><div class="{CHART_CLASS}" id="chart-{cid}" '
        f'data-spec="spec-{cid}"{names} role="img" aria-label="{escape(title)}"></div></div>\n'
        f'<script type="application/json" id="spec-{cid}">{script_json(spec)}</script>\n'
        f"<figcaption><strong>{escape(title)}.</strong> {escape(caption)}</figcaption>\n"
        "</figure>"
    )


def table_html(
    header: Iterable[str],
    rows: Iterable[Iterable[tuple[str, float | str | None]]],
    *,
    numeric: Iterable[bool],
    right: Iterable[bool] | None = None,
    caption: str | None = None,
) -> str:
    """A sortable table: click a column's header to sort by it (``numeric`` columns
    sort as numbers; ``right`` columns are right-aligned, by default the numeric ones).

    Each cell is ``(plain text, sort value)``; a ``None`` sort value sorts last.
    """
    numeric = list(numeric)
    aligned = numeric if right is None else list(right)

    def kind(n: bool, r: bool) -> str:
        return ("num" if n else "text") + (" right" if r else "")

    head = "".join(
        f'<th scope="col" class="{kind(n, r)}" tabindex="0" '
        f'title="sort by {escape(h)}">{escape(h)}</th>'
        for h, n, r in zip(header, numeric, aligned, strict=True)
    )
    body = []
    for row in rows:
        cells = []
        for (text, value), n, r in zip(row, numeric, aligned, strict=True):
            sort = "" if value is None else escape(repr(value) if n else value)
            cells.append(f'<td class="{kind(n, r)}" data-sort="{sort}">{escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="hpdream-table sortable">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


_CSS = """
:root { --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --accent: #0969da; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 15px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", "Liberation Sans", "DejaVu Sans", sans-serif; }
main { padding: 24px 28px 64px; }
/* text keeps a readable measure; figures may use the whole window */
main > :not(figure) { max-width: 1120px; }
h1 { font-size: 1.9em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.4em; margin-top: 2em; padding-bottom: 0.25em; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.1em; margin-top: 1.5em; }
p.meta { color: var(--muted); margin-top: 0; }
nav.toc { font-size: 0.95em; margin: 1em 0 1.5em; }
nav.toc a { margin-right: 1.1em; color: var(--accent); text-decoration: none; white-space: nowrap; }
.note { border-left: 4px solid #d4a72c; background: #fff8c5; padding: 0.6em 1em; margin: 1em 0; }
table.hpdream-table { border-collapse: collapse; margin: 0.8em 0 1.4em; font-size: 0.92em; }
table.hpdream-table caption { caption-side: bottom; text-align: left; color: var(--muted);
  font-size: 0.9em; padding-top: 0.4em; }
table.hpdream-table th, table.hpdream-table td { padding: 4px 10px; border-bottom: 1px solid var(--rule); }
table.hpdream-table th { background: #f6f8fa; cursor: pointer; user-select: none; text-align: left;
  white-space: nowrap; position: sticky; top: 0; }
table.hpdream-table td { vertical-align: top; }
table.hpdream-table .num { font-variant-numeric: tabular-nums; }
table.hpdream-table .right { text-align: right; }
table.hpdream-table td.text { min-width: 7em; }
table.hpdream-table th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: 0.75em; }
table.hpdream-table th[aria-sort="descending"]::after { content: " \\25BC"; font-size: 0.75em; }
table.hpdream-table tbody tr:hover { background: #f6f8fa; }
.table-wrap { overflow-x: auto; }
figure.hpdream-figure { margin: 1.2em 0 2em; }
figure.hpdream-figure figcaption { color: var(--muted); font-size: 0.92em; max-width: 60em; margin-top: 0.4em; }
.chart-scroll { overflow-x: auto; max-width: 100%; }
.hpdream-chart { min-height: 40px; }
.profile { margin-bottom: 1.2em; }
#hpdream-render-status:not(.failed) { display: none; }
#hpdream-render-status.failed { border: 2px solid var(--bad); color: var(--bad); background: #fff1f0;
  padding: 0.6em 1em; margin: 1em 0; white-space: pre-wrap; font-family: monospace; }
footer { color: var(--muted); font-size: 0.85em; margin-top: 3em; border-top: 1px solid var(--rule); padding-top: 0.8em; }
"""

# Runs before anything else: records every error and warning the page logs.
_RECORDER = """
(function () {
  var log = [];
  window.__hpdreamLog = log;
  function text(args) {
    return Array.prototype.map.call(args, function (a) {
      if (a instanceof Error) { return a.name + ": " + a.message; }
      if (typeof a === "string") { return a; }
      try { return JSON.stringify(a); } catch (e) { return String(a); }
    }).join(" ");
  }
  window.addEventListener("error", function (e) {
    log.push({level: "error", message: e.message || String(e)});
  });
  window.addEventListener("unhandledrejection", function (e) {
    log.push({level: "error", message: "unhandled rejection: " + text([e.reason])});
  });
  ["error", "warn"].forEach(function (level) {
    var original = console[level];
    console[level] = function () {
      log.push({level: level === "warn" ? "warning" : "error", message: text(arguments)});
      return original.apply(console, arguments);
    };
  });
})();
"""

# Embeds every chart, then writes the outcome into the status element.
_EMBED = """
(function () {
  var status = document.getElementById("%(status)s");
  var containers = Array.prototype.slice.call(document.querySelectorAll(".%(chart)s"));
  var rendered = 0;
  function finish() {
    var log = window.__hpdreamLog;
    status.setAttribute("data-charts", String(containers.length));
    status.setAttribute("data-rendered", String(rendered));
    status.setAttribute("data-errors", JSON.stringify(log));
    status.setAttribute("data-done", "1");
    if (log.length || rendered !== containers.length) {
      status.className = "failed";
      status.textContent = (containers.length - rendered) + " of " + containers.length +
        " charts failed to render.\\n" + log.map(function (e) { return e.level + ": " + e.message; }).join("\\n");
    }
  }
  if (typeof vegaEmbed !== "function") {
    window.__hpdreamLog.push({level: "error", message: "vegaEmbed is not loaded"});
    finish();
    return;
  }
  var options = {renderer: "svg", actions: {export: true, source: false, compiled: false, editor: false}};
  var shared = null;
  function attach(el, spec) {
    var names = (el.getAttribute("data-datasets") || "").split(" ").filter(Boolean);
    if (!names.length) { return; }
    if (shared === null) {
      shared = JSON.parse(document.getElementById("%(datasets)s").textContent);
    }
    spec.datasets = spec.datasets || {};
    names.forEach(function (n) {
      if (!(n in shared)) { throw new Error("no dataset " + n); }
      spec.datasets[n] = shared[n];
    });
  }
  Promise.all(containers.map(function (el) {
    var spec;
    try {
      spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
      attach(el, spec);
    } catch (e) {
      window.__hpdreamLog.push({level: "error", message: el.id + ": bad spec: " + e.message});
      return Promise.resolve();
    }
    return vegaEmbed(el, spec, options).then(function () { rendered += 1; }).catch(function (e) {
      window.__hpdreamLog.push({level: "error", message: el.id + ": " + (e && e.message || String(e))});
    });
  })).then(finish, finish);
})();
"""

# Click a header to sort its table; numbers by value, text alphabetically.
_SORT = """
(function () {
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.classList.contains("num");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].getAttribute("data-sort"), y = b.cells[index].getAttribute("data-sort");
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortBy(th); } });
  });
})();
"""


def page(title: str, body: str, *, footer: str = "", datasets: Datasets | None = None) -> str:
    """The whole page: ``body`` (HTML) with the Vega libraries and the scripts inlined,
    and the tables of ``datasets`` when its charts share them."""
    shared = (
        f'<script type="application/json" id="{DATASETS_ID}">{script_json(datasets.tables)}'
        "</script>\n"
        if datasets
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>{_CSS}</style>\n"
        f"<script>{_RECORDER}</script>\n"
        f"<script>{vega_bundle()}</script>\n"
        "</head>\n<body>\n<main>\n"
        f'<div id="{STATUS_ID}" role="status"></div>\n'
        f"{body}\n"
        f"{shared}"
        f"<footer>{footer}</footer>\n"
        "</main>\n"
        f"<script>{_SORT}</script>\n"
        f"<script>{_EMBED % {'status': STATUS_ID, 'chart': CHART_CLASS, 'datasets': DATASETS_ID}}</script>\n"
        "</body>\n</html>\n"
    )
