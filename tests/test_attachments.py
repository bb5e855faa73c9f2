"""The holder's side of a "Rattachement", through HTTP: confirm from the mailbox, or file it logged in."""

from __future__ import annotations

import re

from sqlalchemy import select

from models import AccountRequest, OutboundEmail, RequestStatus

from .demo import CANTINA, CHEWIE, LANDO
from .http import csrf_token, file_public_request, login


def pending_for(client) -> str:
    return client.get("/admin/account-requests/").get_data(as_text=True)


def test_a_claim_reaches_the_managers_only_once_its_holder_confirms_it(app, demo, db):
    file_public_request(app.test_client(), LANDO[0], CANTINA)
    claim = db.session.scalar(select(AccountRequest).where(AccountRequest.email == LANDO[0]))
    chewie = app.test_client()
    assert login(chewie, *CHEWIE).status_code == 302
    assert "VADOR" not in pending_for(chewie)  # the names typed in the form
    body = db.session.scalar(select(OutboundEmail.body_text).where(OutboundEmail.kind == "confirm_attachment"))
    path = re.search(r"(/account/confirm-attachment/[A-Za-z0-9._-]+)", body).group(1)
    holder = app.test_client()
    assert "Confirmer ma demande" in holder.get(path).get_data(as_text=True)
    assert holder.post(path, data={}).status_code == 400  # no CSRF token: nothing confirmed
    db.session.expire_all()
    assert db.session.get(AccountRequest, claim.id).status == RequestStatus.UNCONFIRMED.value
    done = holder.post(path, data={"csrf_token": csrf_token(holder, path)})
    assert "Demande confirmée" in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(AccountRequest, claim.id).status == RequestStatus.PENDING.value
    assert "VADOR" in pending_for(chewie)
    assert holder.get(path).status_code == 400  # a confirmed claim's link is spent
    tampered = path[:-3] + ("abc" if not path.endswith("abc") else "xyz")
    assert holder.get(tampered).status_code == 400


def test_a_logged_in_holder_files_a_claim_from_the_profile(app, demo, db):
    lando = app.test_client()
    assert login(lando, *LANDO).status_code == 302
    profile = lando.get("/account/profile").get_data(as_text=True)
    assert "/account/attachment-request" in profile
    url = "/account/attachment-request"
    bad = lando.post(url, data={"company_name": "Cantina", "siret": "123", "csrf_token": csrf_token(lando, url)})
    assert "SIRET" in bad.get_data(as_text=True) and db.session.scalar(select(AccountRequest.id).where(
        AccountRequest.email == LANDO[0])) is None
    response = lando.post(url, data={"company_name": "Cantina", "siret": CANTINA, "csrf_token": csrf_token(lando, url)})
    assert response.status_code == 302 and response.location == "/account/profile"
    claim = db.session.scalar(select(AccountRequest).where(AccountRequest.email == LANDO[0]))
    assert claim.status == RequestStatus.PENDING.value and claim.kind == "attachment"
    chewie = app.test_client()
    assert login(chewie, *CHEWIE).status_code == 302
    assert "CALRISSIAN" in pending_for(chewie)
    assert app.test_client().get(url).status_code == 302  # anonymous: to the login page
