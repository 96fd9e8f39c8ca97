"""What agents' tokens cost: a price table (TOML), overridable model by model.

The default table ships as ``prices.toml`` beside this module; its comments
describe the format. ``PriceTable.load(path)`` reads a user's file on top of
the defaults. ``table.cost(model, usage)`` gives US dollars, or ``None`` when
the model has no entry (a cost is never silently 0).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Final

import attrs

from hpdream_core import TableError
from hpdream_runner.agents.transcript import Usage

PRICES_FORMAT_VERSION: Final = 1
_PER: Final = 1_000_000.0
_SUFFIX = re.compile(r"\[[^\]]*\]$")


class PricingError(TableError):
    """A price table is invalid: which file, which model, which field, why."""


@attrs.frozen
class Rates:
    """US dollars per million tokens."""

    input: float
    output: float
    cached_input: float
    cache_write: float

    def cost(self, usage: Usage) -> float:
        uncached = max(0, usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens)
        return (
            uncached * self.input
            + usage.cached_input_tokens * self.cached_input
            + usage.cache_write_tokens * self.cache_write
            + usage.output_tokens * self.output
        ) / _PER


@attrs.frozen
class ModelPrice:
    """The prices of one model, with an optional long-context tier."""

    model: str
    rates: Rates
    long_context_above: int | None = None
    long_context: Rates | None = None
    source: str = ""
    as_of: str = ""

    def cost(self, usage: Usage, *, single_request: bool = False) -> float:
        """Cost of ``usage``; the long-context tier applies only to one request."""
        if (
            single_request
            and self.long_context is not None
            and self.long_context_above is not None
            and usage.input_tokens > self.long_context_above
        ):
            return self.long_context.cost(usage)
        return self.rates.cost(usage)


def _number(source: Path | str | None, where: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PricingError(source, where, f"{name} must be a number (got {value!r})")
    if value < 0:
        raise PricingError(source, where, f"{name} must be >= 0 (got {value!r})")
    return float(value)


_RATE_KEYS = {"input", "output", "cached_input", "cache_write"}
_MODEL_KEYS = _RATE_KEYS | {"long_context", "source", "as_of"}


def _rates(
    source: Path | str | None, where: str, raw: Mapping[str, Any], base: Rates | None
) -> Rates:
    for required in ("input", "output"):
        if required not in raw and base is None:
            raise PricingError(source, where, f"missing {required!r}")
    inp = _number(source, where, "input", raw["input"]) if "input" in raw else base.input  # type: ignore[union-attr]
    out = _number(source, where, "output", raw["output"]) if "output" in raw else base.output  # type: ignore[union-attr]
    cached = (
        _number(source, where, "cached_input", raw["cached_input"])
        if "cached_input" in raw
        else (base.cached_input if base is not None else inp)
    )
    write = (
        _number(source, where, "cache_write", raw["cache_write"])
        if "cache_write" in raw
        else (base.cache_write if base is not None else inp)
    )
    return Rates(inp, out, cached, write)


def _model_price(source: Path | str | None, model: str, raw: Any) -> ModelPrice:
    where = f"models.{model!r}"
    if not isinstance(raw, Mapping):
        raise PricingError(source, where, "must be a table of prices")
    unknown = set(raw) - _MODEL_KEYS
    if unknown:
        raise PricingError(
            source, where, f"unknown keys {sorted(unknown)} (known: {sorted(_MODEL_KEYS)})"
        )
    rates = _rates(source, where, raw, None)
    above: int | None = None
    long: Rates | None = None
    if "long_context" in raw:
        lc = raw["long_context"]
        lwhere = where + ".long_context"
        if not isinstance(lc, Mapping):
            raise PricingError(source, lwhere, "must be a table")
        unknown = set(lc) - (_RATE_KEYS | {"above"})
        if unknown:
            raise PricingError(source, lwhere, f"unknown keys {sorted(unknown)}")
        if "above" not in lc:
            raise PricingError(source, lwhere, "missing 'above' (input tokens)")
        if isinstance(lc["above"], bool) or not isinstance(lc["above"], int) or lc["above"] <= 0:
            raise PricingError(
                source, lwhere, f"above must be a positive integer (got {lc['above']!r})"
            )
        above = lc["above"]
        long = _rates(source, lwhere, lc, rates)
    for text_key in ("source", "as_of"):
        if text_key in raw and not isinstance(raw[text_key], str):
            raise PricingError(source, where, f"{text_key} must be a string")
    return ModelPrice(
        model=model,
        rates=rates,
        long_context_above=above,
        long_context=long,
        source=str(raw.get("source", "")),
        as_of=str(raw.get("as_of", "")),
    )


@attrs.frozen
class PriceTable:
    """Model name -> prices."""

    models: Mapping[str, ModelPrice]
    sources: tuple[str, ...] = ()

    @classmethod
    def from_toml_text(cls, text: str, *, source: str | Path | None = None) -> PriceTable:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PricingError(source, "file", f"not valid TOML: {exc}") from None
        return cls.from_mapping(data, source=source)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str | Path | None = None
    ) -> PriceTable:
        version = data.get("format_version", PRICES_FORMAT_VERSION)
        if version != PRICES_FORMAT_VERSION:
            raise PricingError(
                source, "format_version", f"{version!r} is not {PRICES_FORMAT_VERSION}"
            )
        unknown = set(data) - {"format_version", "models"}
        if unknown:
            raise PricingError(source, "top level", f"unknown keys {sorted(unknown)}")
        models = data.get("models", {})
        if not isinstance(models, Mapping):
            raise PricingError(source, "models", "must be a table of models")
        table = {name: _model_price(source, name, raw) for name, raw in models.items()}
        return cls(table, (str(source),) if source is not None else ())

    @classmethod
    def default(cls) -> PriceTable:
        text = resources.files("hpdream_runner.agents").joinpath("prices.toml").read_text("utf-8")
        return cls.from_toml_text(text, source="hpdream_runner/agents/prices.toml")

    @classmethod
    def load(cls, path: str | Path | None = None, *, defaults: bool = True) -> PriceTable:
        """The default table, with ``path``'s entries replacing or adding models."""
        base = cls.default() if defaults else cls({})
        if path is None:
            return base
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise PricingError(p, "file", f"cannot read: {exc.strerror or exc}") from None
        return base.merged(cls.from_toml_text(text, source=p))

    def merged(self, other: PriceTable) -> PriceTable:
        return PriceTable({**self.models, **other.models}, self.sources + other.sources)

    def lookup(self, model: str) -> ModelPrice | None:
        """The entry for ``model``: exact, then without a ``[..]`` suffix, then longest prefix."""
        if model in self.models:
            return self.models[model]
        bare = _SUFFIX.sub("", model)
        if bare in self.models:
            return self.models[bare]
        best: ModelPrice | None = None
        for name, price in self.models.items():
            if bare.startswith(name + "-") and (best is None or len(name) > len(best.model)):
                best = price
        return best

    def cost(
        self, model: str | None, usage: Usage, *, single_request: bool = False
    ) -> float | None:
        """US dollars for ``usage`` on ``model``; None when the model has no price."""
        if model is None:
            return None
        price = self.lookup(model)
        if price is None:
            return None
        return price.cost(usage, single_request=single_request)

    def priced(self, model: str | None, usage: Usage, *, single_request: bool = False) -> Usage:
        """``usage`` with its cost filled in from this table (kept when already known)."""
        if usage.cost_usd is not None:
            return usage
        return usage.evolve(cost_usd=self.cost(model, usage, single_request=single_request))
