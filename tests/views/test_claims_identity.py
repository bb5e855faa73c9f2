"""Claims on proven identities through HTTP, on the demo data: the answers that must not tell (compared byte for
byte, the CSRF token aside; the emails rendered counted), and the approve page that shows the account a
Rattachement names apart from what its requester typed."""

from __future__ import annotations

import itertools
import re
from collections import Counter

from sqlalchemy import select, update

from admin_app.services import claims
from admin_app.services import users as user_service
from models import AccountRequest, OutboundEmail, User, utcnow

from ..demo import LUKE, STAFF, TEMPLE, eid
from ..http import csrf_token, file_public_request, login

STAFF_EMAIL = "staff@example.org"
LANDO = "lando.calrissian@example.org"  # proven, another company (OPCA DEFI)
HAN = "han.solo@example.org"  # the demo's unproven address (Cantina)
OBIWAN = "obi-wan.kenobi@example.org"  # already on Temple JEDI
NOBODY = "rey.nobody@example.org"
_TOKEN = re.compile(r'(name="csrf_token"(?: type="hidden")? value=")[^"]+(")')
_NONCE = re.compile(r'(nonce=")[^"]+(")')
_ips = (f"198.51.100.{n}" for n in itertools.count(1))


def same_bytes(html: str, *typed: str) -> str:
    """A page as compared: its CSRF tokens and script nonces (new on each page) and the address typed (echoed)
    normalised."""
    html = _NONCE.sub(r"\1NONCE\2", _TOKEN.sub(r"\1TOKEN\2", html))
    for text in typed:
        html = html.replace(text, "ADDRESS")
    return html



def requests_of(db, email: str) -> list[tuple[str, str, int | None]]:
    db.session.expire_all()
    return [(r.kind, r.status, r.user_id) for r in db.session.scalars(
        select(AccountRequest).where(AccountRequest.email == email).order_by(AccountRequest.id))]


# --- the public form --------------------------------------------------------------------------------------

def public_answer(app, email: str, siret: str = TEMPLE) -> tuple[int, str, str]:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = next(_ips)  # one visitor each: the form's limit per IP stays out of it
    response = file_public_request(client, email, siret)
    return response.status_code, response.mimetype, same_bytes(response.get_data(as_text=True))


def test_the_public_form_answers_byte_for_byte_the_same_whatever_holds_the_address(app, demo, db, rendered):
    answers, work = {}, {}
    for email in (NOBODY, LANDO, STAFF_EMAIL, HAN):
        rendered.clear()
        answers[email] = public_answer(app, email)
        work[email] = Counter(rendered)
    first = answers[NOBODY]
    assert first[0] == 200 and first[1] == "text/html" and "Votre demande a bien été envoyée" in first[2]
    assert all(answer == first for answer in answers.values())
    assert requests_of(db, HAN)[-1][:2] == ("opening", "pending")  # an unproven address turns nothing into a claim
    lando_id = db.session.scalar(select(User.id).where(User.email == LANDO))
    assert requests_of(db, LANDO) == [("attachment", "unconfirmed", lando_id)]
    assert work[LANDO] == Counter({"confirm_attachment": 1}) and work[NOBODY]["request_received"] == 1

    # Again, for the same establishment: nothing filed, nothing sent; the same answer, the same emails rendered.
    for email in (NOBODY, LANDO, STAFF_EMAIL):
        filed = requests_of(db, email)
        sent = db.session.scalars(select(OutboundEmail.id)).all()
        rendered.clear()
        assert public_answer(app, email) == first
        assert rendered == work[email]
        assert requests_of(db, email) == filed and db.session.scalars(select(OutboundEmail.id)).all() == sent


def test_a_second_claim_on_an_account_waiting_for_its_confirmation_sends_nothing(app, demo, db, rendered):
    assert public_answer(app, LANDO)[0] == 200
    asked = db.session.scalars(select(OutboundEmail.id).where(OutboundEmail.recipient == LANDO)).all()
    rendered.clear()
    annexe = "11138540700023"  # another establishment: still nothing while the first claim waits
    assert public_answer(app, LANDO, annexe)[2] == public_answer(app, NOBODY)[2]
    assert rendered["confirm_attachment"] == 1
    assert len(requests_of(db, LANDO)) == 1
    assert db.session.scalars(select(OutboundEmail.id).where(OutboundEmail.recipient == LANDO)).all() == asked


# --- « Proposer le rattachement » -------------------------------------------------------------------------

def claim_existing(client, db, email: str) -> tuple[int, str | None, str]:
    token = csrf_token(client, "/admin/users/")
    response = client.post("/admin/users/claim-existing/", data={"csrf_token": token, "email": email,
                                                                 "establishment": str(eid(db, TEMPLE))})
    page = client.get(response.location).get_data(as_text=True)  # the list, with the flashed answer
    return response.status_code, response.location, same_bytes(page)


def test_asking_a_holder_to_join_answers_a_delegated_administrator_the_same_whatever_the_address(as_user, db, rendered):
    luke = as_user(LUKE)
    answers, work = {}, {}
    # a proven account (asked), no account, an unproven one, staff, already on Temple, a claim already waiting
    for case, email in (("asked", LANDO), ("none", NOBODY), ("unproven", HAN), ("staff", STAFF_EMAIL),
                        ("attached", OBIWAN), ("waiting", LANDO)):
        rendered.clear()
        answers[case] = claim_existing(luke, db, email)
        work[case] = Counter(rendered)
    first = answers["asked"]
    assert first[:2] == (302, "/admin/users/") and claims.MAYBE_ASKED.replace("'", "&#39;") in first[2]
    assert all(answer == first for answer in answers.values()), [c for c, a in answers.items() if a != first]
    assert all(done == Counter({"confirm_attachment": 1}) for done in work.values()), work
    assert [e.recipient for e in db.session.scalars(select(OutboundEmail).where(
        OutboundEmail.kind == "confirm_attachment"))] == [LANDO]  # only the one who can join was asked
    assert [(kind, status) for kind, status, _ in requests_of(db, LANDO)] == [("attachment", "unconfirmed")]
    temple_claims = select(AccountRequest.email).where(AccountRequest.siret == TEMPLE)
    assert db.session.scalars(temple_claims).all() == [LANDO]


def test_staff_keep_precise_answers_when_asking_a_holder(staff_client, db):
    token = csrf_token(staff_client, "/admin/users/")
    for email, said in ((NOBODY, "Aucun compte n&#39;utilise cette adresse"), (HAN, "pas encore validé son adresse"),
                        (LANDO, f"Demande envoyée à {LANDO}")):
        response = staff_client.post("/admin/users/claim-existing/", data={
            "csrf_token": token, "email": email, "establishment": str(eid(db, TEMPLE))}, follow_redirects=True)
        assert said in response.get_data(as_text=True), email


# --- creating a user with an address in use ---------------------------------------------------------------

def create_page(client, db, email: str) -> str:
    url = "/admin/users/new/"
    temple = str(eid(db, TEMPLE))
    response = client.post(url, data={"civility": "M.", "last_name": "Calrissian", "first_name": "Lando", "email": email,
                                      "phone": "0644332211", "job_title": "", "csrf_token": csrf_token(client, url),
                                      "grants-present": "1", "grants-establishment": temple, "grants-primary": temple})
    assert response.status_code == 200
    return same_bytes(response.get_data(as_text=True), email)


def test_a_delegated_creator_reads_the_same_page_whoever_holds_the_address(as_user, staff_client, db):
    luke = as_user(LUKE)
    pages = {email: create_page(luke, db, email) for email in (STAFF_EMAIL, LANDO, HAN)}
    assert len(set(pages.values())) == 1
    page = pages[LANDO]
    assert user_service.EMAIL_UNAVAILABLE in page.replace("&#39;", "'") and "Proposer le rattachement" in page
    assert "compte staff" not in page and "ADDRESS a déjà un compte" not in page
    staff_page = create_page(staff_client, db, STAFF_EMAIL)
    assert "Cette adresse email est déjà utilisée par un autre utilisateur." in staff_page
    assert "ADDRESS a déjà un compte Mon compte DEFI" in staff_page


# --- the approve page ------------------------------------------------------------------------------------

def confirmed_claim_of_lando(app, db) -> int:
    """Lando's address typed into the public form under another name (« Vador »), then confirmed from his mailbox."""
    assert public_answer(app, LANDO)[0] == 200
    body = db.session.scalar(select(OutboundEmail.body_text).where(OutboundEmail.kind == "confirm_attachment"))
    path = re.search(r"(/account/confirm-attachment/[A-Za-z0-9._-]+)", body).group(1)
    holder = app.test_client()
    holder.post(path, data={"csrf_token": csrf_token(holder, path)})
    claim = db.session.scalar(select(AccountRequest).where(AccountRequest.email == LANDO))
    assert claim.status == "pending" and claim.user_id == db.session.scalar(select(User.id).where(User.email == LANDO))
    return claim.id


def identity(html: str, part: str) -> str:
    return re.search(rf'id="{part}">(.*?)</dd>', html, re.S).group(1).strip()


def test_the_approver_sees_the_account_apart_from_what_was_typed(app, as_user, db):
    claim = confirmed_claim_of_lando(app, db)
    luke = as_user(LUKE)
    html = luke.get(f"/admin/account-requests/approve/{claim}").get_data(as_text=True)
    assert identity(html, "claim-account-name") == "M. CALRISSIAN Lando"
    assert identity(html, "claim-account-email") == LANDO
    assert identity(html, "claim-account-establishments") == "aucun"  # none within Luke's perimeter
    assert "Saisi par le demandeur" in html and identity(html, "claim-typed-name") == "M. VADOR Dark"

    staff = app.test_client()
    assert login(staff, *STAFF).status_code == 302
    edit = staff.get(f"/admin/account-requests/approve/{claim}")
    assert "/admin/users/edit/" in edit.location
    html = staff.get(edit.location).get_data(as_text=True)
    assert identity(html, "claim-account-name") == "M. CALRISSIAN Lando"
    assert "402820658 00217" in identity(html, "claim-account-establishments")  # staff see all of Lando's
    assert identity(html, "claim-typed-name") == "M. VADOR Dark"


def test_a_claim_whose_account_changed_address_cannot_be_approved(app, as_user, db):
    claim = confirmed_claim_of_lando(app, db)
    db.session.execute(update(User).where(User.email == LANDO).values(email="lando.ailleurs@example.org",
                                                                        email_verified_at=utcnow()))
    db.session.commit()
    luke = as_user(LUKE)
    page = luke.get(f"/admin/account-requests/approve/{claim}", follow_redirects=True).get_data(as_text=True)
    assert "a changé d&#39;adresse email" in page
    token = csrf_token(luke, "/admin/account-requests/")
    attached = luke.post(f"/admin/account-requests/approve/{claim}/attach", data={"csrf_token": token},
                         follow_redirects=True).get_data(as_text=True)
    assert "Aucune demande validée" in attached and "a changé d&#39;adresse email" in attached
    db.session.expire_all()
    assert db.session.get(AccountRequest, claim).status == "pending"
    lando = db.session.scalar(select(User).where(User.email == "lando.ailleurs@example.org"))
    assert [g.establishment.siret for g in lando.grants] == ["40282065800217"]
