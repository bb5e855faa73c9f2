"""Bad input stops at the edge: bounded ids and page numbers, NUL bytes refused, a French 400 page.

What people or scripts put in a URL or a form reaches SQL as parameters. Two kinds of value pass
Python's own checks and then fail in the database driver, which used to answer 500:
- integers past the column's range (SQLite refuses Python ints past 2^63, PostgreSQL's INTEGER
  stops at 2^31 - 1 and its OFFSET at 2^63 - 1);
- NUL (0x00) in text, which PostgreSQL refuses in any text parameter (psycopg raises DataError).
"""

from __future__ import annotations

from typing import Any, NoReturn
from urllib.parse import unquote

import werkzeug.urls  # noqa: F401 (registers the "werkzeug.url_quote" error handler parse_urlencoded uses)
from flask import Flask, Request, Response, abort, render_template, request
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser

# Every id column of the schema is INTEGER (Mapped[int]): 32 bits signed on PostgreSQL. No row can
# have a larger id, so a larger number is "no such row", never a query.
MAX_DB_ID = 2**31 - 1
# The same bound for page numbers: page * page_size (100 at most) stays far below BIGINT's 2^63 - 1.
MAX_PAGE = MAX_DB_ID

NUL_MESSAGE = ("La requête contient un caractère nul (0x00), qui n'est accepté dans aucun champ ni aucune adresse. "
               "Retirez-le puis réessayez.")
RETURN_URL_MESSAGE = ("L'adresse de retour (paramètre « url ») contient un caractère de contrôle, qu'aucune adresse ne "
                      "peut contenir. Retirez-le puis réessayez.")
BAD_ID_MESSAGE = "Un identifiant envoyé n'est pas un nombre valide : rien n'a été modifié. Rechargez la page et réessayez."
UNSUPPORTED_BODY_MESSAGE = ("Les formulaires de ce site n'acceptent que les données d'un formulaire web "
                            "(application/x-www-form-urlencoded ou multipart/form-data) : rien n'a été modifié.")
FILE_MESSAGE = "Aucun formulaire de ce site n'accepte de fichier : rien n'a été modifié. Envoyez le formulaire sans fichier."

# What a browser sends for this site's forms: url-encoded, or multipart for the forms Flask-Admin draws itself
# (its form tag always says multipart/form-data, although none of them has a file field).
FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# The return addresses a page carries (Flask-Admin's `url`, the login's `next`). A longer one cannot be a page of
# this site: gunicorn refuses a request line over 4,094 bytes (its limit_request_line), so no page has a longer URL.
RETURN_URL_PARAMETERS = ("url", "next")
MAX_RETURN_URL = 4094


def parse_db_id(value: Any, maximum: int = MAX_DB_ID) -> int | None:
    """The id or page number in `value` (digits only, 0 to `maximum`), or None for anything else.

    ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() then refuses or reads.
    The length is checked before int(): a 5,000-digit string would be converted for nothing.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= maximum else None
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > len(str(maximum)):
        return None
    number = int(value)
    return number if number <= maximum else None


def bad_request(message: str) -> Response:
    """The French 400 page with a message that says what was wrong."""
    return Response(render_template("error.html", code=400, title="Requête invalide", message=message), 400,
                    mimetype="text/html")


def refuse(message: str = BAD_ID_MESSAGE) -> NoReturn:
    """Stop the request with the French 400 page (Flask answers a Response given to abort as is)."""
    abort(bad_request(message))


def parse_urlencoded(body: str) -> list[tuple[str, str]]:
    """What `parse_qsl(body, keep_blank_values=True, errors="werkzeug.url_quote")` returns (Werkzeug's own
    call), decoding only the pairs that hold an escape: a pair without "%" or "+" is its own decoding.

    A bulk action on 5,000 ticked users posts 5,000 `rowid=123` pairs; parse_qsl unquotes each name and
    value, this reads them as they are (docs/measurements.md). tests/test_form_parsing.py checks both agree.
    """
    items = []
    for pair in body.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            name = unquote(name.replace("+", " "), errors="werkzeug.url_quote")
            value = unquote(value.replace("+", " "), errors="werkzeug.url_quote")
        items.append((name, value))
    return items


class FormParser(FormDataParser):
    """Werkzeug's parser, with `parse_urlencoded` for url-encoded bodies (multipart ones are Werkzeug's)."""

    def _parse_urlencoded(self, stream, mimetype, content_length, options):
        return stream, self.cls(parse_urlencoded(stream.read().decode())), self.cls()


class AppRequest(Request):
    form_data_parser_class = FormParser


def _holds_nul(values: MultiDict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in found) for key, found in values.lists())


def refuse_nul_bytes() -> Response | None:
    """Answer 400 when the path, a query argument or a form field holds a NUL byte.

    No field of this app has a use for NUL, and refusing it here spares every query, filter, lookup
    and form (the login's email included) from handling it one by one.
    """
    if "\x00" in request.path or _holds_nul(request.args):
        return bad_request(NUL_MESSAGE)
    if request.method in ("POST", "PUT", "PATCH") and _holds_nul(request.form):
        return bad_request(NUL_MESSAGE)
    return None


def _controls_in_return_url(values: MultiDict) -> bool:
    return any(ord(char) < 0x20 or ord(char) == 0x7F for value in values.getlist("url") for char in value)


def refuse_bad_return_url() -> Response | None:
    """Answer 400 when the return address that Flask-Admin's pages carry (`url`) holds a control character.

    Flask-Admin redirects there after a save or a missing record: a newline in a Location header makes
    Werkzeug raise, which answered 500."""
    if _controls_in_return_url(request.args) or (request.method == "POST" and _controls_in_return_url(request.form)):
        return bad_request(RETURN_URL_MESSAGE)
    return None


def unsupported_body() -> Response:
    """The French 415 page: a body that is not a web form's."""
    return Response(render_template("error.html", code=415, title="Format de données non pris en charge",
                                    message=UNSUPPORTED_BODY_MESSAGE), 415, mimetype="text/html")


def refuse_odd_bodies() -> Response | None:
    """Answer 415 to a body that is not a web form's (JSON, XML, text...), 400 to a multipart body holding a file.

    Runs before every other hook (CSRF and the login limiter read the form): Flask-WTF reads a JSON body as the
    form's data, which handed lists, numbers and objects to code that expects text, and a file part handed it a
    file. A body without a content type is refused unless it is empty (a bare POST, like a button without fields).
    """
    if request.method not in BODY_METHODS:
        return None
    mimetype = request.mimetype
    if not mimetype:
        has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        return unsupported_body() if has_body else None
    if mimetype not in FORM_MIMETYPES:
        return unsupported_body()
    if mimetype == "multipart/form-data" and request.files:
        return bad_request(FILE_MESSAGE)
    return None


def _without_long_return_urls(values: MultiDict) -> MultiDict | None:
    """`values` without its over-long return addresses, or None when it has none."""
    if not any(len(value) > MAX_RETURN_URL for name in RETURN_URL_PARAMETERS for value in values.getlist(name)):
        return None
    return type(values)((name, value) for name, value in values.items(multi=True)
                        if name not in RETURN_URL_PARAMETERS or len(value) <= MAX_RETURN_URL)


def ignore_long_return_urls() -> None:
    """Drop a return address longer than any page's URL: the page then goes back to its default.

    Flask-Admin (get_redirect_target) and the login (safe_next) redirect there after a save: a 1 MB `url`
    came back as a 1 MB Location header. Dropped rather than refused: the action itself was legitimate.
    """
    args = _without_long_return_urls(request.args)
    form = _without_long_return_urls(request.form) if request.method in BODY_METHODS else None
    if args is not None:
        request.args = args
    if form is not None:
        request.form = form
    if args is not None or form is not None:
        request.__dict__.pop("values", None)  # computed from both, once: computed again from the new ones


def init_app(app: Flask) -> None:
    app.request_class = AppRequest
    # First of all the hooks, Flask-WTF's CSRF check and the limiter's included: they read the form.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_odd_bodies)
    app.before_request(refuse_nul_bytes)
    app.before_request(refuse_bad_return_url)
    app.before_request(ignore_long_return_urls)
