"""What an experiment changed in train.py, found with ``ast``.

:func:`diff_train_py` compares the old and new source of an autoresearch-style
training script and reports:

- **constants**: module-level assignments (``MATRIX_LR = 0.04``) and fields of
  classes (``n_layer: int = 12`` in a config dataclass) whose value changed,
  with old and new values (numbers where they are numbers: ``2**19`` is 524288);
- **symbols**: functions, classes and methods that were added, removed or
  modified (bodies compared by ``ast.dump``, so comments, blank lines and
  docstrings do not count), and changed regions of module-level code;
- **params**: the constants, plus literal settings inside changed code
  (``self.ve_gate_channels = 32`` -> 48, ``nn.RoPE(..., base=10000)`` -> 200000).

Each change has a *kind*, a property of the code rather than of any taxonomy:
``model``, ``optimizer``, ``schedule``, ``data``, ``loss``, ``evaluation``,
``systems``, ``hyperparameter``, ``training`` or ``other``. A taxonomy maps
kinds to its categories (``code_kinds``); the classifier first tries the
taxonomy's own keywords and name patterns.

A file that does not parse (a SyntaxError in an agent's edit is normal) still
gets a line-based diff of its upper-case constants, and ``error`` says why
the rest is missing.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import io
import re
import tokenize as pytokenize
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from hpdream_core._params import ParamChange, Value, normalise_name

KINDS: Final = (
    "model",
    "optimizer",
    "schedule",
    "data",
    "loss",
    "evaluation",
    "systems",
    "hyperparameter",
    "training",
    "other",
)


@attrs.frozen
class ConstantChange:
    """A constant whose value changed; ``old`` is None for an added one, ``new`` for a removed one."""

    name: str  # as written; a class field is "Class.field"
    old: Value
    new: Value
    kind: str
    line: int  # in the new file (the old one for a removed constant)
    old_source: str | None = None
    new_source: str | None = None

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@attrs.frozen
class SymbolChange:
    """A function, class, method or region of module code that changed."""

    name: str  # "get_lr_multiplier", "GPT.forward", "<module code>"
    change: str  # "added", "removed" or "modified"
    kind: str
    line: int
    lines: int  # changed lines (added plus removed)
    words: tuple[str, ...] = ()  # identifiers on the changed lines, to classify by content


@attrs.frozen
class CodeDiff:
    """The changes between two versions of train.py."""

    constants: tuple[ConstantChange, ...]
    symbols: tuple[SymbolChange, ...]
    params: tuple[ParamChange, ...]
    error: str | None = None  # why the diff is partial (a file that does not parse)

    @property
    def changed(self) -> bool:
        return bool(self.constants or self.symbols)

    def kinds(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for c in self.constants:
            seen.setdefault(c.kind)
        for s in self.symbols:
            seen.setdefault(s.kind)
        return tuple(seen)


# ---------------------------------------------------------------------------
# kinds, by name and by content


def _patterns(*table: tuple[str, str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((kind, tuple(patterns.split())) for kind, patterns in table)


# kinds by name: the first pattern that matches decides (so the order matters)
_CONSTANT_KINDS: Final = _patterns(
    ("evaluation", "*eval* val_*"),
    (
        "schedule",
        "*warmup* *warmdown* *cooldown* final_lr* *lr_frac* *min_lr* *schedule* *decay_ratio* *ramp*",
    ),
    (
        "optimizer",
        "*beta* *eps* *momentum* *ns_steps* *nesterov* *clip* *ema* *muon* *optimizer* *grad_norm*",
    ),
    (
        "hyperparameter",
        "*lr lr_* *_lr_* *learning_rate* *batch* *weight_decay* wd *_wd *accum* *dropout* *seq_len* "
        "*sequence_len* *time_budget* *budget* *num_steps* *iterations* *max_steps* *epochs*",
    ),
    (
        "model",
        "depth *aspect* *head_dim* *window* n_* d_* *layer* *embd* *_dim dim *softcap* *mlp* "
        "*heads* *init* *expand* *expert* *rope* *rotary* *hidden* *ve_* *norm*",
    ),
    ("data", "*vocab* *dataset* *data* *token* *shuffle* *loader*"),
    ("systems", "*compile* *dtype* *autotune* *precision* *memory* *device* *flash* *fp8* *bf16*"),
    ("loss", "*loss* *label_smoothing*"),
    ("other", "*seed*"),
)
_SYMBOL_KINDS: Final = _patterns(
    (
        "schedule",
        "get_lr* *lr_multiplier* *schedule* get_muon_momentum* get_weight_decay* *warmup* "
        "*warmdown* *cooldown* *lr_lambda*",
    ),
    (
        "optimizer",
        "*muon* *adam* *optimizer* *optim* *zeropower* *newton_schulz* *newtonschulz* "
        "*polar_express* *lion* *sgd* *clip_grad* *ema* *param_group* *momentum*",
    ),
    ("evaluation", "*eval* *bpb*"),
    ("loss", "*loss* *cross_entropy*"),
    (
        "data",
        "*dataloader* *data_loader* *loader* *tokeniz* *dataset* *get_batch* *pack* *shuffle* *batches*",
    ),
    ("systems", "*compile* *autocast* *kernel* *peak_flops* *mfu* *memory*"),
    (
        "model",
        "gpt* *model* *transformer* *attention* *attn* mlp* *mlp block* *block *norm* *rotary* "
        "*rope* *embed* has_ve *window* *mask* init_weights forward __call__ *softcap* *config* "
        "*layer* *moe* *expert* *router*",
    ),
)
# identifiers on changed lines that point to a kind of code
_CONTENT_WORDS: Final = {
    "model": (
        "attention attn mlp embedding embeddings embed norm rms_norm rmsnorm layernorm block "
        "blocks head heads rotary rope softcap tanh relu gelu silu swiglu residual resid "
        "lambda lambdas x0 wte lm_head c_fc c_proj c_q c_k c_v n_embd n_head n_kv_head "
        "n_layer window ve ve_gate gate init std scaled_dot_product_attention sdpa q k v"
    ),
    "optimizer": (
        "optimizer optim muon adam adamw betas beta1 beta2 eps momentum nesterov zeropower "
        "newton schulz clip_grad_norm clip_grad_norm_ param_groups ema lerp orthogonalize"
    ),
    "schedule": (
        "lr_multiplier get_lr_multiplier warmup warmdown cooldown progress schedule cosine "
        "frac final_lr_frac get_muon_momentum"
    ),
    "data": (
        "dataloader loader tokenizer tokenize tokens shuffle dataset shard shards pack "
        "packing bos documents"
    ),
    "loss": "loss cross_entropy z_loss label_smoothing logsumexp aux_loss",
    "evaluation": "eval evaluate evaluate_bpb bpb val",
    "systems": (
        "compile autocast bfloat16 float16 float32 fp8 cuda synchronize memory empty_cache "
        "set_float32_matmul_precision tf32 dtype checkpoint"
    ),
    "training": "backward zero_grad grad_accum grad_accum_steps step train_loss",
}
_CONTENT_INDEX: Final = {w: kind for kind, words in _CONTENT_WORDS.items() for w in words.split()}
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOGGING: Final = re.compile(r"^\s*(print|logger\.\w+|logging\.\w+|log|wandb\.log|pbar\.\w+)\s*\(")


def _glob_kind(name: str, table: Sequence[tuple[str, Sequence[str]]]) -> str | None:
    low = name.lower()
    for kind, patterns in table:
        for p in patterns:
            if fnmatch.fnmatchcase(low, p):
                return kind
    return None


def constant_kind(name: str) -> str:
    """The kind of a module constant, by its name (``WARMDOWN_RATIO`` -> schedule)."""
    short = name.rsplit(".", 1)[-1]
    return _glob_kind(short, _CONSTANT_KINDS) or "hyperparameter"


def content_kind(words: Iterable[str]) -> str | None:
    """The kind most of these identifiers point to (None when none does)."""
    counts: dict[str, int] = {}
    for w in words:
        kind = _CONTENT_INDEX.get(w.lower())
        if kind is None:
            continue
        counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda k: (counts[k], -KINDS.index(k)))


def symbol_kind(name: str, words: Iterable[str] = ()) -> str:
    """The kind of a function, class or method (``GPT.setup_optimizer`` -> optimizer)."""
    parts = name.split(".")
    for part in reversed(parts):
        kind = _glob_kind(part, _SYMBOL_KINDS)
        if kind is not None:
            return kind
    return content_kind(words) or "other"


# ---------------------------------------------------------------------------
# values of constants


def _number(node: ast.AST) -> int | float | None:
    """The value of a constant arithmetic expression (``2**19``, ``-1e-4``, ``3 * 64``), else None."""
    if isinstance(node, ast.Constant):
        v = node.value
        return v if isinstance(v, int | float) and not isinstance(v, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _number(node.operand)
        if v is None:
            return None
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _number(node.left), _number(node.right)
        if a is None or b is None:
            return None
        try:
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
            if isinstance(node.op, ast.FloorDiv):
                return a // b
            if isinstance(node.op, ast.Pow):
                if abs(b) > 64 or abs(a) > 10**6:
                    return None
                r = a**b
                return r if isinstance(r, int | float) else None
        except (ZeroDivisionError, OverflowError):
            return None
    return None


def _value(node: ast.AST | None) -> Value:
    if node is None:
        return None
    num = _number(node)
    if num is not None:
        return num
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str):
            return node.value
        if node.value is None:
            return None
    return ast.unparse(node)


def _is_constant_like(node: ast.AST | None) -> bool:
    if node is None:
        return False
    if _number(node) is not None or isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(_is_constant_like(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(
            _is_constant_like(k) and _is_constant_like(v)
            for k, v in zip(node.keys, node.values, strict=True)
        )
    if isinstance(node, ast.UnaryOp | ast.BinOp):
        return all(
            _is_constant_like(c) or isinstance(c, ast.Name)
            for c in ast.iter_child_nodes(node)
            if not isinstance(c, ast.operator | ast.unaryop)
        )
    return False


def _simple_target(stmt: ast.stmt) -> tuple[str, ast.expr | None] | None:
    if (
        isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
    ):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None


# ---------------------------------------------------------------------------
# the module's parts


@attrs.define
class _Unit:
    name: str
    node: ast.AST
    dump: str
    first: int
    last: int


@attrs.define
class _Module:
    source_lines: list[str]
    constants: dict[str, tuple[ast.AST | None, int, ast.stmt]] = attrs.Factory(dict)
    units: dict[str, _Unit] = attrs.Factory(dict)  # functions, classes' own code, methods
    code: list[tuple[int, str]] = attrs.Factory(list)  # module-level code lines (line number, text)


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return body[1:]
    return body


def _dump(node: ast.AST) -> str:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        clone = ast.parse(ast.unparse(node)).body[0]
        assert isinstance(clone, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        clone.body = _strip_docstring(clone.body) or [ast.Pass()]
        return ast.dump(clone)
    return ast.dump(node)


def _code_lines(source_lines: Sequence[str], first: int, last: int) -> list[tuple[int, str]]:
    """The lines first..last (1-based) without comments and blank lines."""
    text = "\n".join(source_lines[first - 1 : last])
    stripped: list[tuple[int, str]] = []
    try:
        comments: set[tuple[int, int]] = set()
        for tok in pytokenize.generate_tokens(io.StringIO(text + "\n").readline):
            if tok.type == pytokenize.COMMENT:
                comments.add(tok.start)
        lines = text.split("\n")
        for row, col in comments:
            lines[row - 1] = lines[row - 1][:col]
    except (pytokenize.TokenError, SyntaxError, IndentationError):
        lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            stripped.append((first + i, line.rstrip()))
    return stripped


def _parse_module(source: str) -> _Module:
    tree = ast.parse(source)
    lines = source.splitlines()
    mod = _Module(lines)
    body = _strip_docstring(tree.body)
    for stmt in body:
        target = _simple_target(stmt)
        if target is not None and (_is_constant_like(target[1]) or target[0].isupper()):
            mod.constants[target[0]] = (target[1], stmt.lineno, stmt)
            continue
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            mod.units[stmt.name] = _Unit(
                stmt.name, stmt, _dump(stmt), stmt.lineno, stmt.end_lineno or stmt.lineno
            )
            continue
        if isinstance(stmt, ast.ClassDef):
            own: list[ast.stmt] = []
            for item in _strip_docstring(stmt.body):
                t = _simple_target(item)
                if t is not None:
                    mod.constants[f"{stmt.name}.{t[0]}"] = (t[1], item.lineno, item)
                elif isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    q = f"{stmt.name}.{item.name}"
                    mod.units[q] = _Unit(
                        q, item, _dump(item), item.lineno, item.end_lineno or item.lineno
                    )
                else:
                    own.append(item)
            head = ast.ClassDef(
                name=stmt.name,
                bases=stmt.bases,
                keywords=stmt.keywords,
                body=own or [ast.Pass()],
                decorator_list=stmt.decorator_list,
            )
            mod.units[stmt.name] = _Unit(
                stmt.name,
                stmt,
                ast.dump(head),
                stmt.lineno,
                stmt.body[0].lineno - 1 if stmt.body else stmt.lineno,
            )
            continue
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        mod.code.extend(_code_lines(lines, stmt.lineno, stmt.end_lineno or stmt.lineno))
    return mod


def _words(lines: Iterable[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(_IDENT.findall(line))
    return out


def _changed_words(
    old_lines: Sequence[str], new_lines: Sequence[str]
) -> tuple[int, tuple[str, ...], int]:
    """Changed line count, the identifiers that differ (or all on changed lines), first changed index."""
    sm = difflib.SequenceMatcher(
        a=[line.strip() for line in old_lines],
        b=[line.strip() for line in new_lines],
        autojunk=False,
    )
    removed: list[str] = []
    added: list[str] = []
    first = -1
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        if first < 0:
            first = j1
        removed.extend(old_lines[i1:i2])
        added.extend(new_lines[j1:j2])
    a, b = _words(removed), _words(added)
    diff = sorted(set(a) ^ set(b), key=lambda w: (a + b).index(w))
    words = tuple(diff) if diff else tuple(dict.fromkeys(a + b))
    return len(removed) + len(added), words, max(first, 0)


# ---------------------------------------------------------------------------
# literal settings inside changed code


def _settings(node: ast.AST) -> dict[str, Value]:
    """Literal settings in a piece of code: ``x = 32``, ``self.x = 32``, ``f(..., base=10000)``."""
    out: dict[str, Value] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Assign | ast.AnnAssign):
            targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
            value = sub.value
            if value is None or not _is_constant_like(value) or len(targets) != 1:
                continue
            t = targets[0]
            if isinstance(t, ast.Name):
                out.setdefault(t.id, _value(value))
            elif isinstance(t, ast.Attribute):
                out.setdefault(t.attr, _value(value))
        elif isinstance(sub, ast.Call):
            fn = sub.func
            callee = (
                fn.attr
                if isinstance(fn, ast.Attribute)
                else fn.id
                if isinstance(fn, ast.Name)
                else ""
            )
            for kw in sub.keywords:
                if kw.arg and _is_constant_like(kw.value):
                    key = f"{callee}_{kw.arg}" if callee else kw.arg
                    out.setdefault(key, _value(kw.value))
    return out


def _code_settings(source: str) -> dict[str, Value]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return _settings(tree)


# ---------------------------------------------------------------------------
# the diff


def diff_train_py(old: str, new: str) -> CodeDiff:
    """The constants, functions, classes and module code that differ between two train.py texts."""
    try:
        a = _parse_module(old)
    except SyntaxError as exc:
        return _line_diff(
            old, new, f"the old train.py does not parse (line {exc.lineno}: {exc.msg})"
        )
    try:
        b = _parse_module(new)
    except SyntaxError as exc:
        return _line_diff(
            old, new, f"the new train.py does not parse (line {exc.lineno}: {exc.msg})"
        )

    constants: list[ConstantChange] = []
    params: list[tuple[int, ParamChange]] = []
    for name in list(b.constants) + [n for n in a.constants if n not in b.constants]:
        old_node, old_line, _ = a.constants.get(name, (None, 0, None))
        new_node, new_line, _ = b.constants.get(name, (None, 0, None))
        in_old, in_new = name in a.constants, name in b.constants
        old_dump = ast.dump(old_node) if old_node is not None else None
        new_dump = ast.dump(new_node) if new_node is not None else None
        if in_old and in_new and old_dump == new_dump:
            continue
        ov, nv = (_value(old_node) if in_old else None), (_value(new_node) if in_new else None)
        change = ConstantChange(
            name=name,
            old=ov,
            new=nv,
            kind=constant_kind(name),
            line=new_line if in_new else old_line,
            old_source=ast.unparse(old_node) if old_node is not None else None,
            new_source=ast.unparse(new_node) if new_node is not None else None,
        )
        constants.append(change)
        params.append((change.line, ParamChange(normalise_name([change.short_name]), ov, nv)))

    symbols: list[SymbolChange] = []
    for name in list(b.units) + [n for n in a.units if n not in b.units]:
        ua, ub = a.units.get(name), b.units.get(name)
        if ua is not None and ub is not None and ua.dump == ub.dump:
            continue
        old_lines = [t for _, t in _code_lines(a.source_lines, ua.first, ua.last)] if ua else []
        new_lines = [t for _, t in _code_lines(b.source_lines, ub.first, ub.last)] if ub else []
        count, words, first = _changed_words(old_lines, new_lines)
        change_kind = "modified" if ua and ub else "added" if ub else "removed"
        line = (ub.first + first) if ub else (ua.first if ua else 0)
        if ua and ub:
            count = max(count, 1)
        symbols.append(
            SymbolChange(name, change_kind, symbol_kind(name, words), line, count, words)
        )
        if ua is not None and ub is not None:
            sa, sb = _settings(ua.node), _settings(ub.node)
            for key, nv in sb.items():
                if key in sa and sa[key] != nv:
                    params.append((line, ParamChange(normalise_name([key]), sa[key], nv)))

    # module-level code, region by region
    old_code = [t for _, t in a.code]
    new_code = [t for _, t in b.code]
    sm = difflib.SequenceMatcher(
        a=[x.strip() for x in old_code], b=[x.strip() for x in new_code], autojunk=False
    )
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            continue
        removed, added = old_code[i1:i2], new_code[j1:j2]
        changed = removed + added
        if all(_LOGGING.match(x) for x in changed):
            continue
        words = tuple(dict.fromkeys(_words(changed)))
        a_words, b_words = set(_words(removed)), set(_words(added))
        differing = tuple(w for w in words if (w in a_words) != (w in b_words)) or words
        line = b.code[j1][0] if j1 < len(b.code) else (b.code[-1][0] if b.code else 0)
        change_kind = "modified" if removed and added else "added" if added else "removed"
        symbols.append(
            SymbolChange(
                "<module code>",
                change_kind,
                content_kind(differing) or "training",
                line,
                len(changed),
                differing,
            )
        )
        sa, sb = (
            _code_settings("\n".join(x.strip() for x in removed)),
            _code_settings("\n".join(x.strip() for x in added)),
        )
        for key, nv in sb.items():
            if key in sa and sa[key] != nv:
                params.append((line, ParamChange(normalise_name([key]), sa[key], nv)))

    symbols.sort(key=lambda s: s.line)
    constants.sort(key=lambda c: c.line)
    seen: set[str] = set()
    ordered: list[ParamChange] = []
    for _, p in sorted(params, key=lambda x: x[0]):
        if p.name not in seen:
            seen.add(p.name)
            ordered.append(p)
    return CodeDiff(tuple(constants), tuple(symbols), tuple(ordered))


_CONST_LINE: Final = re.compile(r"^([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=\s*(.+?)\s*(?:#.*)?$")


def _line_diff(old: str, new: str, error: str) -> CodeDiff:
    """For a file that does not parse: upper-case constants line by line, the rest as one region."""

    def consts(text: str) -> dict[str, tuple[str, int]]:
        out: dict[str, tuple[str, int]] = {}
        for i, line in enumerate(text.splitlines(), start=1):
            m = _CONST_LINE.match(line)
            if m:
                out.setdefault(m.group(1), (m.group(2), i))
        return out

    ca, cb = consts(old), consts(new)
    constants: list[ConstantChange] = []
    params: list[ParamChange] = []
    for name in list(cb) + [n for n in ca if n not in cb]:
        va, vb = ca.get(name), cb.get(name)
        if va is not None and vb is not None and va[0] == vb[0]:
            continue
        ov = _literal(va[0]) if va else None
        nv = _literal(vb[0]) if vb else None
        line = vb[1] if vb else va[1] if va else 0
        constants.append(
            ConstantChange(
                name,
                ov,
                nv,
                constant_kind(name),
                line,
                va[0] if va else None,
                vb[0] if vb else None,
            )
        )
        params.append(ParamChange(normalise_name([name]), ov, nv))

    def code(text: str) -> list[str]:
        return [x for x in text.splitlines() if x.strip() and not _CONST_LINE.match(x)]

    count, words, first = _changed_words(code(old), code(new))
    symbols: tuple[SymbolChange, ...] = ()
    if count:
        symbols = (
            SymbolChange(
                "<unparsed code>",
                "modified",
                content_kind(words) or "other",
                first + 1,
                count,
                words,
            ),
        )
    return CodeDiff(tuple(constants), symbols, tuple(params), error)


def _literal(text: str) -> Value:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return text
    return _value(node)


def glob_specificity(pattern: str) -> float:
    """How specific a glob is: its literal characters, and half a point per anchored end.

    ``final_lr*`` is more specific than ``*_lr*``; ``cast_*`` than ``*cast*``.
    """
    literal = sum(1 for ch in pattern if ch not in "*?[]")
    return literal + 0.5 * (not pattern.startswith("*")) + 0.5 * (not pattern.endswith("*"))
