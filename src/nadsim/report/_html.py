"""HTML reports from Jinja2 templates that share the web page's i18n files.

The page and the reports read the same dictionaries (``nadsim/web/static/i18n/{en,ja}.json``),
so a Japanese report is Japanese throughout, not only in its headings; a key missing from a
language falls back to English, and a test checks that both files have the same keys.
Templates live in ``nadsim/report/templates`` and autoescape everything; figures are embedded
as ``data:`` PNGs (a report is one self-contained file, no scripts).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from nadsim.report._labels import arm_regimen

__all__ = ["I18N_DIR", "LANGS", "png_data_uri", "render", "translator"]

LANGS = ("en", "ja")
I18N_DIR = Path(str(resources.files("nadsim"))) / "web" / "static" / "i18n"


@lru_cache(maxsize=4)
def _dictionary(lang: str) -> dict[str, str]:
    return json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def translator(lang: str) -> Callable[..., str]:
    """``t(key, **vars)``: the page's text for ``key`` in ``lang`` (English if missing)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    own, en = _dictionary(lang), _dictionary("en")

    def t(key: str, **vars: Any) -> str:
        text = own.get(key, en.get(key, key))
        for k, v in vars.items():
            text = text.replace("{" + k + "}", str(v))
        return text

    return t


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("nadsim.report", "templates"),
                             autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.globals["arm_regimen"] = arm_regimen
    env.filters["pct"] = lambda x: "-" if x is None else f"{x:+.1f} %"
    return env


def _num(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v != v:  # NaN
        return "-"
    return f"{v:.{digits}g}"


def png_data_uri(path: Path | str) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def render(template: str, *, lang: str, **context: Any) -> str:
    """Render ``template`` in ``lang`` with ``t`` (the translator) and ``lang`` in its context."""
    return _env().get_template(template).render(t=translator(lang), lang=lang, **context)
