"""The one scrubber for everything CoinStats (or a proxy in front of it) sends back.

A broken server or proxy may echo request headers into a body, a message, a ``requestId`` or a
``Location``. Whatever the client quotes or returns passes through a :class:`Scrubber` first, so
the key cannot reach an exception text, a log line, XCom or a trigger event from there.

The key is looked for in the forms an echo would plausibly use: raw (which covers
``Bearer <key>`` and ``X-API-KEY: <key>``), URL-encoded (``quote`` and ``quote_plus``, either
case of hex digits), JSON-escaped, and HTML-escaped.
"""

from __future__ import annotations

import html
import json
from urllib.parse import quote, quote_plus

#: What every form of the key is replaced with; the same mark Airflow's masker uses.
MASK = "***"


class Scrubber:
    """Replaces every known form of ``secret`` with ``***``, in text and in raw bodies.

    :param secret: the API key (or OAuth token); an empty secret scrubs nothing.
    """

    def __init__(self, secret: str) -> None:
        forms = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
        forms |= {form.lower() for form in forms if "%" in form}  # %2F as well as %2f
        forms |= {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
        forms.add(html.escape(secret))
        # Longest first: a form that contains another must be replaced whole.
        self._forms = sorted((form for form in forms if form), key=len, reverse=True)
        self._byte_forms = [form.encode("utf-8", "surrogatepass") for form in self._forms]
        #: The longest form, in bytes: a text cut within this many bytes of a form's start may
        #: leave a piece of it, so cut only after scrubbing (see :meth:`head`).
        self.longest = max((len(form) for form in self._byte_forms), default=0)

    def __repr__(self) -> str:
        return "Scrubber(***)"

    def text(self, value: str) -> str:
        """``value`` with every form of the key replaced by ``***``."""
        for form in self._forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def body(self, content: bytes) -> bytes:
        """A raw body with every form of the key replaced by ``***``. Done before parsing, so no
        string or field name of the parsed JSON holds the key (a replacement inside a JSON
        string keeps the JSON valid)."""
        for form in self._byte_forms:
            if form in content:
                content = content.replace(form, MASK.encode())
        return content

    def head(self, content: bytes, size: int) -> str:
        """The first ``size`` characters of a body as text, scrubbed before the cut, so that a
        cut through the key cannot leave a piece of it behind."""
        # A character is at most 4 bytes in UTF-8: this many bytes hold ``size`` characters
        # and the whole of any form of the key that starts among them.
        text = content[: 4 * size + self.longest].decode("utf-8", errors="replace")
        return self.text(text)[:size]
