"""The filters (keep or reject with a reason) and the configuration of every quality step.

`FilterConfig` holds one configured step per field, in the order they run
(None turns a step off): the URL blocklist (before extraction), the document
filters, and PII masking (a rewriter, `pipeline.rewriters`); C4's line cleaning
comes with the `c4` filter. It is recorded in the manifest as is. The CLI
edits it with `--filter NAME.PARAM=VALUE` and `--no-filter NAME`;
`pipeline.quality` runs it.
"""
from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field

from cc2gpt.pipeline.filters.base import Filter
from cc2gpt.pipeline.filters.c4 import C4Quality
from cc2gpt.pipeline.filters.fineweb import FineWebQuality
from cc2gpt.pipeline.filters.gopher import GopherQuality, GopherRepetition
from cc2gpt.pipeline.filters.url import URLBlocklist
from cc2gpt.pipeline.rewriters.pii import PIIMask

__all__ = ["Filter", "FilterConfig", "build_filters", "parse_filter_overrides",
           "URLBlocklist", "GopherRepetition", "GopherQuality", "C4Quality", "FineWebQuality"]


@dataclass
class FilterConfig:
    url_blocklist: URLBlocklist | None = field(default_factory=URLBlocklist)
    gopher_repetition: GopherRepetition | None = field(default_factory=GopherRepetition)
    gopher_quality: GopherQuality | None = field(default_factory=GopherQuality)
    c4: C4Quality | None = field(default_factory=C4Quality)
    fineweb: FineWebQuality | None = field(default_factory=FineWebQuality)
    pii: PIIMask | None = field(default_factory=PIIMask)


def build_filters(config: FilterConfig) -> list[Filter]:
    """The enabled document filters (after language ID), in run order."""
    return [f for f in (getattr(config, fd.name) for fd in dataclasses.fields(config))
            if isinstance(f, Filter) and not isinstance(f, URLBlocklist)]


def _parse_value(text: str, default):
    """Parse VALUE to the type of the parameter's default."""
    if isinstance(default, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true/false, got {text!r}")
    if isinstance(default, (int, float)):
        return type(default)(float(text)) if isinstance(default, float) else int(text)
    if isinstance(default, tuple):
        try:  # nested tuples: "((2, 0.2), (3, 0.18))"
            value = ast.literal_eval(text)
            if isinstance(value, tuple) and any(isinstance(v, tuple) for v in value):
                return value
        except (ValueError, SyntaxError):
            pass
        return tuple(v.strip() for v in text.split(",") if v.strip())
    return text


def parse_filter_overrides(overrides: list[str], disabled: list[str] = ()) -> FilterConfig:
    """`["gopher_quality.min_doc_words=30"]`, `["c4"]` -> FilterConfig; unknown names are errors."""
    config = FilterConfig()
    names = [fd.name for fd in dataclasses.fields(config)]
    for item in overrides:
        key, sep, value = item.partition("=")
        name, dot, param = key.strip().partition(".")
        if not sep or not dot:
            raise ValueError(f"--filter expects NAME.PARAM=VALUE, got {item!r}")
        if name not in names:
            raise ValueError(f"unknown filter {name!r}; filters: {', '.join(names)}")
        current = getattr(config, name)
        params = {fd.name: fd for fd in dataclasses.fields(current)}
        if param not in params:
            raise ValueError(f"unknown parameter {param!r} of filter {name!r}; "
                             f"parameters: {', '.join(params)}")
        try:
            parsed = _parse_value(value.strip(), getattr(current, param))
        except ValueError as e:
            raise ValueError(f"bad value for --filter {key}: {e}") from None
        setattr(config, name, dataclasses.replace(current, **{param: parsed}))
    for name in disabled:  # "all" turns every step off
        if name not in (*names, "all"):
            raise ValueError(f"unknown filter {name!r}; filters: {', '.join(names)}, or all")
        for off in names if name == "all" else [name]:
            setattr(config, off, None)
    return config
