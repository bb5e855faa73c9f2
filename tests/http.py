"""Talking to the app as a browser does, for the tests through HTTP: the CSRF token, logging in, the forms of the
users screen, what a page says and which messages it flashed."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from models import User

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')

NEVER = "?connexion=jamais"  # the users list filtered on « Dernière connexion : jamais connecté »


def csrf_token(client: FlaskClient, url: str = "/login") -> str:
    """Read a CSRF token valid for this client's session from a page that has a form."""
    page = client.get(url).get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def login(client: FlaskClient, email: str, password: str):
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)})


def text(response) -> str:
    """A page's text, its HTML entities unescaped."""
    return html.unescape(response.get_data(as_text=True))


def flashed(client: FlaskClient) -> list[tuple[str, str]]:
    """The (category, message) pairs flashed and not yet shown, taken out of the session."""
    with client.session_transaction() as session:
        return list(session.pop("_flashes", []))


def file_public_request(client: FlaskClient, email: str, siret: str):
    """The public « Demande de création de compte » form, filed by Dark Vador for `email` on `siret`."""
    token = csrf_token(client, "/account/request")
    return client.post("/account/request", data={
        "civility": "M.", "last_name": "Vador", "first_name": "Dark", "email": email, "phone": "0612345678",
        "job_title": "", "company_name": "Temple JEDI", "siret": siret, "csrf_token": token})


def edit_data(client: FlaskClient, db, uid: int, **extra) -> dict:
    """The edit form of user `uid` as the page fills it (identity, version, token), with `extra` changed."""
    user = db.session.get(User, uid)
    data = {name: getattr(user, name) or "" for name in ("civility", "last_name", "first_name", "email", "phone", "job_title")}
    data["version"] = str(user.version)
    data["csrf_token"] = csrf_token(client, f"/admin/users/edit/?id={uid}")
    data.update(extra)
    return data


def grants_form(rows, primary) -> dict:
    """The grant editor's fields: `rows` as (establishment id, ticked habilitations), the primary one's id."""
    data = {"grants-present": "1", "grants-establishment": [str(eid) for eid, _ in rows], "grants-primary": str(primary)}
    for eid, flags in rows:
        for flag in flags:
            data[f"grants-{eid}-{flag}"] = "1"
    return data


def grants_post(client: FlaskClient, db, user_id: int, rows, primary, **changes):
    """Save user `user_id`'s edit form with these grant rows, read afresh from the database first."""
    db.session.refresh(db.session.get(User, user_id))
    data = {**edit_data(client, db, user_id), **grants_form(rows, primary or "")}
    data.update(changes)
    return client.post(f"/admin/users/edit/?id={user_id}", data=data)


def all_matching(client: FlaskClient, action: str, query: str = NEVER, token: str | None = None):
    """A bulk action on « tous les utilisateurs correspondants » of the list filtered by `query` (not followed)."""
    token = csrf_token(client, f"/admin/users/{query}") if token is None else token
    return client.post(f"/admin/users/action/{query}", data={"csrf_token": token, "action": action, "all_matching": "1",
                                                             "url": f"/admin/users/{query}"})


SAMPLE_ARGS = {"int": "1", "default": "x", "string": "x", "path": "x"}


def endpoint_urls(app, method: str) -> list[tuple[str, str]]:
    """Every rule of the app answering `method`, as (endpoint, a concrete URL with sample values for its arguments)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if method not in rule.methods:
            continue
        url = rule.rule
        for converter, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
            url = re.sub(rf"<[^>]*\b{name}>", SAMPLE_ARGS.get(converter or "default", "x"), url)
        urls.append((rule.endpoint, url))
    return urls
