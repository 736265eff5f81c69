"""The rows of the long list pages, rendered with Jinja2 (templates/jinja2/).

The lead list, the MQL queue and "My leads" show 50 to 200 rows of a dozen values each. Django's
template engine resolves every `{{ value }}` through its lookup rules, the localisation of numbers
and dates, and escaping behind lazy-string wrappers: a few microseconds each, thousands a page,
which made these pages several times slower than the SQL behind them. Jinja2 compiles a template
to Python and escapes with markupsafe's C code, so the same rows cost a fraction of that.

Only the rows are Jinja2 templates. The page around them stays a Django template (the layout,
navigation, forms, messages) and places the rows with `{{ rows_html }}`. The views format every
value once beforehand (dates, URLs, badges), so the row templates only place text; autoescaping is
on, and Django's safe strings (`SafeString`) pass through unescaped, as they do in Django's engine.
An undefined name is an error (StrictUndefined), not a blank cell.
"""

from __future__ import annotations

from typing import Any

from django.template import engines
from django.utils.safestring import SafeString


def render_rows(template_name: str, **context: Any) -> SafeString:
    """The HTML of `templates/jinja2/<template_name>` with `context` (already escaped as needed)."""
    template = engines["jinja2"].env.get_template(template_name)  # type: ignore[attr-defined]
    return SafeString(template.render(context))
