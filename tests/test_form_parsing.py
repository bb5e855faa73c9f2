"""The url-encoded form parser (admin_app.inputs.parse_urlencoded) reads every body as Werkzeug's own call to
parse_qsl does, and a posted selection of thousands of ids arrives whole."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
import werkzeug.urls  # noqa: F401 (registers the "werkzeug.url_quote" error handler Werkzeug's call uses)
from hypothesis import given, settings
from hypothesis import strategies as st

from admin_app.inputs import AppRequest, parse_urlencoded


def werkzeug_reading(body: str) -> list[tuple[str, str]]:
    return parse_qsl(body, keep_blank_values=True, errors="werkzeug.url_quote")


@pytest.mark.parametrize("body", [
    "", "&", "&&a=1&&", "a", "a=", "=b", "=", "a=1=2", "a=b&a=c", "rowid=1&rowid=2", "a+b=c+d", "a%20b=c%2Bd",
    "url=%2Fadmin%2Fusers%2F%3Fpage%3D2", "q=%C3%A9l%C3%A8ve", "q=%E9", "q=%", "q=%zz", "q=%C3", "nom=Jean-Luc+O%27Neil",
    "a;b=c", "x=%00", "%3D=%26", "é=à", "a=1&b&c=", "+=+", "a=%2",
])
def test_reads_each_tricky_body_as_werkzeug_does(body):
    assert parse_urlencoded(body) == werkzeug_reading(body)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab=&%+20C3A9zZ;é\x00 /?"), max_size=40))
def test_reads_any_body_as_werkzeug_does(body):
    assert parse_urlencoded(body) == werkzeug_reading(body)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=8))
def test_reads_what_a_browser_encodes_back_into_the_same_fields(fields):
    assert parse_urlencoded(urlencode(fields)) == fields


def test_a_request_gets_its_fields_through_it(app):
    ids = [str(i) for i in range(1, 5001)]
    body = urlencode([("csrf_token", "t.k-n_1"), ("url", "/admin/users/?page=2"), ("rowid", "x"), *(("rowid", i) for i in ids)])
    with app.test_request_context("/", method="POST", data=body, content_type="application/x-www-form-urlencoded"):
        from flask import request

        assert isinstance(request._get_current_object(), AppRequest)
        assert request.form["url"] == "/admin/users/?page=2"
        assert request.form.getlist("rowid") == ["x", *ids]
