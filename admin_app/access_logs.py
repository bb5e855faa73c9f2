"""Access logs without email-link tokens: Werkzeug's (`flask run`) and gunicorn's.

An email link (`/account/<purpose>/<token>`: verify, set-password, confirm-attachment, the email-change
links...) is a password for as long as it lives: whoever reads it in a log can use it. The rule is
generic on purpose: whatever follows `/account/<word>/` is masked, so that a purpose added later is
masked without anyone remembering this file. The pages under /account/ without a token
(`/account/profile`, `/account/request`...) have no second segment and are left as they are.

No Flask import here: gunicorn's config file (gunicorn.conf.py) installs the filter in the master
before any worker loads the app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import MutableMapping

# Up to the end of the path: a space (request line), a quote (the log's own quoting), a query or a fragment.
# Percent-encoded slashes are matched too: a client may send `/account/verify%2F<token>`, and a link may
# travel encoded in another URL's query (`?next=%2Faccount%2Fset-password%2F<token>`).
_SLASH = r"(?:/|%2[Ff])"
_LINK_TOKEN = re.compile(rf"({_SLASH}account{_SLASH}[A-Za-z0-9_-]+{_SLASH})[^\s\"'?#&]+")
MASK = "…"
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


def hide_link_tokens(value):
    """`value` with every email-link token masked, if it is text; anything else as it is."""
    return _LINK_TOKEN.sub(r"\1" + MASK, value) if isinstance(value, str) else value


class HideLinkTokens(logging.Filter):
    """Masks link tokens in a record's message and arguments.

    Werkzeug passes its request line in a tuple of arguments; gunicorn passes one dict of "atoms" (the
    request line `r`, the path `U`, the query `q`, the referrer `f` and each request header `{name}i`),
    which logging keeps as `record.args` itself. Gunicorn's dict answers "-" for a missing atom, so it is
    changed in place rather than replaced by a plain dict.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = hide_link_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(hide_link_tokens(arg) for arg in record.args)
        elif isinstance(record.args, MutableMapping):
            for key, value in list(record.args.items()):
                if isinstance(value, str):
                    record.args[key] = hide_link_tokens(value)
        return True


def install() -> None:
    """Put the filter on the access loggers, once each (the app factory and gunicorn's config both call it)."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideLinkTokens) for f in logger.filters):
            logger.addFilter(HideLinkTokens())
