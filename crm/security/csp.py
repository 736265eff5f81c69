"""The Content-Security-Policy's one exception: the API docs pages.

Every page gets the strict policy in settings (`CONTENT_SECURITY_POLICY`). Swagger UI and Redoc,
served from drf-spectacular-sidecar, load only scripts from Baton itself (Swagger UI's start-up
script too: `SpectacularSwaggerSplitView` serves it as a file instead of inline), but both put
`<style>` blocks and style attributes into their pages, and Redoc runs its search in a web worker
made from a blob: URL. `api_docs_policy` allows exactly that, on those two views only; scripts stay
`'self'`, with no inline code and no eval.
"""

from __future__ import annotations

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update

api_docs_policy = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})
