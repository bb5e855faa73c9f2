"""Hostile review of this round's identity work (pending email, « ce n'était pas moi », claims, the permission
boundary, per-recipient email bounds, the absolute session lifetime), played through HTTP as the people the threat
model names: Lando (a plain portal user), an intruder who knows a password, Obi-Wan (« Gestion des utilisateurs »
on Temple JEDI) and an anonymous visitor with many addresses.

Every test is an attack tried and refused (`test_held_*`), kept so it stays refused; those whose docstring says
« Was … (fixed: …) » succeeded when the review was made, and failed until their hole was closed.

The demo cast comes from tests/demo.py, the browser's helpers from tests/http.py.
"""

from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from admin_app.extensions import db as app_db
from admin_app.services import Actor
from admin_app.services import bulk as bulk_service
from admin_app.services import requests as request_service
from admin_app.services.passwords import hash_password
from models import Establishment, Grant, OutboundEmail, User, utcnow

from .demo import ANNEXE, LANDO, LUKE, OBIWAN, STAFF, TEMPLE, eid, uid
from .http import csrf_token, flashed, login

UNKNOWN_SIRET = "73282932000017"  # Luhn-valid, not in the référentiel
_LINK = re.compile(r"https?://[^/\s]+(/account/[a-z-]+/[A-Za-z0-9._-]+)")


# --- a browser, by hand -------------------------------------------------------------------------------------

def logged_in(app, credentials):
    client = app.test_client()
    assert login(client, *credentials).status_code == 302
    return client


def press(client, path: str):
    """Open an emailed link's page, then press its button (the POST with the page's CSRF token)."""
    return client.post(path, data={"csrf_token": csrf_token(client, path)})


def profile_email(client, new_email: str, password: str | None, phone: str = "06 44 33 22 11", follow: bool = False):
    data = {"form": "profile", "profile-email": new_email, "profile-phone": phone,
            "csrf_token": csrf_token(client, "/account/profile")}
    if password is not None:
        data["profile-current_password"] = password
    return client.post("/account/profile", data=data, follow_redirects=follow)


def edit_identity(client, db, user_id: int, **changes):
    """Save user `user_id`'s edit page (identity only, the grant editor not sent) with `changes`."""
    db.session.expire_all()
    user = db.session.get(User, user_id)
    data = {name: getattr(user, name) or "" for name in ("civility", "last_name", "first_name", "email", "phone", "job_title")}
    data.update(version=str(user.version), csrf_token=csrf_token(client, f"/admin/users/edit/?id={user_id}"), **changes)
    return client.post(f"/admin/users/edit/?id={user_id}", data=data)


def forgot_password(client, email: str) -> None:
    url = "/account/forgot-password"
    assert client.post(url, data={"email": email, "csrf_token": csrf_token(client, url)}).status_code == 200


def set_password(client, path: str, password: str):
    return client.post(path, data={"password": password, "confirmation": password, "csrf_token": csrf_token(client, path)})


# --- the database, read afresh ------------------------------------------------------------------------------

def link_to(db, kind: str, recipient: str) -> str:
    """The path of the link in the latest email of `kind` written to `recipient`."""
    db.session.expire_all()
    body = db.session.scalars(select(OutboundEmail.body_text).where(
        OutboundEmail.kind == kind, OutboundEmail.recipient == recipient).order_by(OutboundEmail.id.desc())).first()
    assert body is not None, f"no {kind} email to {recipient}"
    return _LINK.search(body).group(1)


def emails_to(db, recipient: str, kind: str | None = None) -> int:
    db.session.expire_all()
    query = select(func.count()).select_from(OutboundEmail).where(OutboundEmail.recipient == recipient)
    if kind is not None:
        query = query.where(OutboundEmail.kind == kind)
    return db.session.scalar(query)


def user_of(db, user_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def make_user(db, email: str, flags=(), *, siret: str = TEMPLE, password: str | None = None, verified: bool = True,
              last_name: str = "Tano") -> int:
    """A client user with one (primary) grant on `siret` holding `flags`."""
    establishment = db.session.scalar(select(Establishment).where(Establishment.siret == siret))
    user = User(civility="Mme", last_name=last_name, first_name="Ahsoka", email=email, phone="+33612345678", active=True,
                email_verified_at=utcnow() if verified else None,
                password_hash=hash_password(password) if password else None)
    grant = Grant(establishment=establishment, is_primary=True)
    for flag in flags:
        setattr(grant, flag, True)
    user.grants.append(grant)
    db.session.add(user)
    db.session.commit()
    return user.id


def set_active(app, user_id: int, active: bool) -> None:
    """Staff (de)activate a user through the bulk service, as the list's action does."""
    with app.app_context():
        staff = app_db.session.scalar(select(User).where(User.email == STAFF[0]))
        bulk_service.set_active(app_db.session, Actor(staff), [user_id], active)
        app_db.session.remove()


# ============================================================================================================
# 1. Pending email and « ce n'était pas moi »
# ============================================================================================================

def test_held_an_intruder_s_second_change_does_not_void_the_victim_s_ce_n_etait_pas_moi(app, demo, db):
    """Was HIGH (fixed: the first address is kept and told of later changes). HIGH. An intruder who phished Lando's password moves the account to his mailbox, confirms, then makes a
    second change from that mailbox to another of his and confirms it too. Lando's « ce n'était pas moi » link
    (old=Lando, new=pirate1) now finds email == pirate2: CHANGE_GONE. The one recovery the design gives the
    victim dies, and the second notice went to the intruder's own mailbox. The account is lost for good."""
    lando_id = uid(db, LANDO[0])
    intruder = logged_in(app, LANDO)
    assert profile_email(intruder, "pirate1@example.net", LANDO[1]).status_code == 302
    cancel = link_to(db, "email_change_notice", LANDO[0])  # what Lando finds in his mailbox
    assert press(app.test_client(), link_to(db, "confirm_email_change", "pirate1@example.net")).status_code == 200
    # The intruder's session survived the confirmation; the re-authentication asks a password he knows.
    assert profile_email(intruder, "pirate2@example.net", LANDO[1]).status_code == 302
    assert press(app.test_client(), link_to(db, "confirm_email_change", "pirate2@example.net")).status_code == 200
    assert user_of(db, lando_id).email == "pirate2@example.net"

    answer = press(app.test_client(), cancel)
    assert answer.status_code == 200, "Lando's « ce n'était pas moi » is refused once the intruder chained a second change"
    assert user_of(db, lando_id).email == LANDO[0]


def test_held_a_delegated_admin_cannot_take_over_a_governed_account_that_holds_more_than_him(app, demo, db):
    """Was HIGH (fixed: the permission boundary applies to a new address, authority.Perimeter.may_hand_over).
    Obi-Wan governs Ahsoka (Temple JEDI only, no administering habilitation) although she holds Données sensibles
    and Collecte / versements there, which he does not. Setting her address to a mailbox of his (then confirming
    it, asking for a password link and logging in as her) would give him Données sensibles: the edit is refused
    with the reason, on the email field, and nothing waits nor is sent."""
    ahsoka = make_user(db, "ahsoka.tano@example.org", ("sensitive_data", "payments"), password="ahsoka-phrase-de-passe-2026")
    obiwan = logged_in(app, OBIWAN)
    page = obiwan.get(f"/admin/users/edit/?id={ahsoka}").get_data(as_text=True).replace("&#39;", "'")
    assert "habilitations que vous n'avez pas vous-même" in page  # the field is drawn read-only, with the reason
    answer = edit_identity(obiwan, db, ahsoka, email="obi.ailleurs@example.net")
    assert answer.status_code == 200
    assert "habilitations que vous n'avez pas vous-même" in answer.get_data(as_text=True).replace("&#39;", "'")
    assert user_of(db, ahsoka).pending_email is None
    assert emails_to(db, "obi.ailleurs@example.net") == 0 and emails_to(db, "ahsoka.tano@example.org") == 0


def test_held_a_delegated_admin_cannot_reoccupy_the_old_address_to_void_ce_n_etait_pas_moi(app, demo, db):
    """Was HIGH (fixed: the address a confirmed change replaced stays the account's while its « ce n'était pas
    moi » lives, users.previous_email). Obi-Wan moves Ahsoka (whom he may hand over: she holds only Prise en charge,
    which he holds too) to his mailbox and confirms; creating a throw-away user with her old address is refused,
    and her « ce n'était pas moi » gives it back."""
    ahsoka = make_user(db, "ahsoka.tano@example.org", ("funding",), password="ahsoka-phrase-de-passe-2026")
    obiwan = logged_in(app, OBIWAN)
    assert edit_identity(obiwan, db, ahsoka, email="obi.ailleurs@example.net").status_code == 302
    cancel = link_to(db, "email_change_notice", "ahsoka.tano@example.org")
    assert press(app.test_client(), link_to(db, "confirm_email_change", "obi.ailleurs@example.net")).status_code == 200
    temple = str(eid(db, TEMPLE))
    url = "/admin/users/new/"
    created = obiwan.post(url, data={"civility": "M.", "last_name": "Leurre", "first_name": "Ben",
                                     "email": "ahsoka.tano@example.org", "phone": "0611223355", "csrf_token": csrf_token(obiwan, url),
                                     "grants-present": "1", "grants-establishment": temple, "grants-primary": temple})
    assert created.status_code == 200  # refused: the address is still Ahsoka's
    assert db.session.scalar(select(func.count()).select_from(User).where(User.last_name == "LEURRE")) == 0

    assert press(app.test_client(), cancel).status_code == 200
    assert user_of(db, ahsoka).email == "ahsoka.tano@example.org"


def test_held_a_ce_n_etait_pas_moi_link_dies_with_a_deactivation_even_once_reactivated(app, demo, db):
    """Was MEDIUM-LOW (fixed: a deactivation drops the kept address). MEDIUM-LOW. README: « a deactivation voids every link already sent ..., so re-activating the account (or
    undoing its deactivation) brings none of them back ». The cancel token signs (id, old, new) and no nonce: after
    a confirmed change, a deactivation and a re-activation, whoever reads the OLD mailbox (an ex-employee's address
    now read by someone else, say) still reverts the account to it, and the password link goes there."""
    lando_id = uid(db, LANDO[0])
    lando = logged_in(app, LANDO)
    assert profile_email(lando, "lando@cloud-city.example.org", LANDO[1]).status_code == 302
    cancel = link_to(db, "email_change_notice", LANDO[0])
    assert press(app.test_client(), link_to(db, "confirm_email_change", "lando@cloud-city.example.org")).status_code == 200
    set_active(app, lando_id, False)
    set_active(app, lando_id, True)

    assert press(app.test_client(), cancel).status_code == 400, "a link sent before the deactivation still works"
    assert user_of(db, lando_id).email == "lando@cloud-city.example.org"


def test_held_a_confirmation_link_dies_with_a_deactivation_even_once_reactivated(app, demo, db):
    lando_id = uid(db, LANDO[0])
    assert profile_email(logged_in(app, LANDO), "lando@cloud-city.example.org", LANDO[1]).status_code == 302
    confirm = link_to(db, "confirm_email_change", "lando@cloud-city.example.org")
    set_active(app, lando_id, False)
    assert app.test_client().get(confirm).status_code == 400  # inactive: the page has no button at all
    set_active(app, lando_id, True)
    assert press(app.test_client(), confirm).status_code == 400  # the pending address went with the deactivation
    assert (user_of(db, lando_id).email, user_of(db, lando_id).pending_email) == (LANDO[0], None)


def test_held_two_accounts_pending_one_address_the_second_confirmation_is_refused(app, demo, db):
    shared = "boite.partagee@example.net"
    assert profile_email(logged_in(app, LANDO), shared, LANDO[1]).status_code == 302
    lando_link = link_to(db, "confirm_email_change", shared)
    assert profile_email(logged_in(app, LUKE), shared, LUKE[1], phone="06 12 34 56 78").status_code == 302
    luke_link = link_to(db, "confirm_email_change", shared)
    assert lando_link != luke_link
    assert press(app.test_client(), luke_link).status_code == 200
    second = press(app.test_client(), lando_link)
    assert second.status_code == 400 and "désormais utilisée par un autre compte" in second.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == shared)) == 1
    assert user_of(db, uid(db, shared)).last_name.upper() == "SKYWALKER"


def test_held_a_cancel_link_replayed_after_use_changes_nothing_more(app, demo, db):
    lando_id = uid(db, LANDO[0])
    assert profile_email(logged_in(app, LANDO), "pirate@example.net", LANDO[1]).status_code == 302
    cancel = link_to(db, "email_change_notice", LANDO[0])
    assert press(app.test_client(), cancel).status_code == 200
    before = emails_to(db, LANDO[0], "set_password")
    assert press(app.test_client(), cancel).status_code == 400
    assert emails_to(db, LANDO[0], "set_password") == before  # no second password link on a replay
    assert user_of(db, lando_id).email == LANDO[0]


def test_held_odd_tokens_and_posts_on_the_new_routes_never_500(app, demo, db):
    client = app.test_client()
    assert profile_email(logged_in(app, LANDO), "pirate@example.net", LANDO[1]).status_code == 302
    real = link_to(db, "email_change_notice", LANDO[0]).rsplit("/", 1)[1]
    confirm = link_to(db, "confirm_email_change", "pirate@example.net").rsplit("/", 1)[1]
    for base in ("/account/confirm-new-email/", "/account/cancel-email-change/"):
        for token in ("x", "a" * 5000, "é", real + "x", real[:-3], "..", "W10.abc.def", confirm if "cancel" in base else real):
            for method in ("get", "post"):
                response = getattr(client, method)(base + token, data={"csrf_token": "garbage"})
                assert response.status_code in (400, 404), (base, token[:20], method, response.status_code)
    # The real links, POSTed without the CSRF token: nothing happens.
    for path in (f"/account/cancel-email-change/{real}", f"/account/confirm-new-email/{confirm}"):
        assert client.post(path, data={}).status_code in (200, 400)
    lando = user_of(db, uid(db, LANDO[0]))
    assert (lando.email, lando.pending_email, lando.password_hash is not None) == (LANDO[0], "pirate@example.net", True)


# ============================================================================================================
# 2. Answers that do not tell
# ============================================================================================================

def test_held_a_delegated_admin_learns_nothing_by_editing_an_unproven_account(app, demo, db):
    """Was LOW (fixed: anyone but staff goes through the pending change). LOW (the creation page already refuses a taken address). README: « the profile's and an administrator's
    address change ... answer the same ... whether the address is free, has an account ». Editing an account whose
    address was never proven, a free address is simply replaced (no pending notice), a taken one goes pending with
    « Nouvelle adresse en attente de confirmation »: the flash tells Obi-Wan that Lando has an account."""
    free_target = make_user(db, "recrue.un@example.org", verified=False)
    taken_target = make_user(db, "recrue.deux@example.org", verified=False)
    obiwan = logged_in(app, OBIWAN)
    answers = {}
    for target, address in ((free_target, "personne@example.net"), (taken_target, LANDO[0])):
        assert edit_identity(obiwan, db, target, email=address).status_code == 302
        answers[address] = [(category, message.replace(address, "ADDRESS")) for category, message in flashed(obiwan)]
    assert answers["personne@example.net"] == answers[LANDO[0]], answers


def test_held_the_profile_answers_the_same_for_a_taken_and_a_free_address(app, demo, db):
    pages = {}
    for address in ("personne@example.net", LUKE[0]):
        lando = logged_in(app, LANDO)
        page = profile_email(lando, address, LANDO[1], follow=True).get_data(as_text=True)
        pages[address] = re.sub(r'value="[^"]{40,}"', 'value="TOKEN"', page.replace(address, "ADDRESS"))
        # back to no pending address for the next round
        db.session.expire_all()
        user = db.session.get(User, uid(db, LANDO[0]))
        user.pending_email = user.pending_email_at = None
        db.session.commit()
    assert pages["personne@example.net"] == pages[LUKE[0]]
    assert emails_to(db, LUKE[0]) == 0  # nothing written to Luke


# ============================================================================================================
# 3. Email bounds per recipient
# ============================================================================================================

def test_held_confirmation_emails_to_any_address_are_bounded(app, demo, db):
    """Was MEDIUM (fixed: bounded per recipient, email_limits). MEDIUM. Any logged-in user makes the product write « Confirmez votre nouvelle adresse email » to an address of
    their choosing, as often as they like: alternating two addresses on the profile defeats « asked already », and
    confirm_email_change is in no bounded kind (the profile has no rate limit either). The bound promised for
    « emails third parties can cause » (3 an hour per recipient) does not hold for this one."""
    lando = logged_in(app, LANDO)
    victim = "cible@example.net"
    for _ in range(5):
        assert profile_email(lando, victim, LANDO[1]).status_code == 302
        assert profile_email(lando, "leurre@example.net", LANDO[1]).status_code == 302
    written = emails_to(db, victim, "confirm_email_change")
    assert written <= 3, f"{written} confirmation emails written to {victim} within a minute (bound: 3 an hour)"


def _public_request(session, email: str, siret: str = UNKNOWN_SIRET) -> None:
    request_service.submit_request(session, {
        "civility": "M.", "last_name": "Vador", "first_name": "Dark", "email": email, "phone": "0612345678",
        "job_title": "", "company_name": "Empire", "siret": siret}, "203.0.113.7")


def test_held_sub_addresses_share_their_mailbox_s_bound(session):
    """Was LOW (fixed: sub-addresses count as their mailbox, email_limits.same_mailbox). LOW. The per-recipient bound is keyed on the literal address: victim+1@, victim+2@... are different
    recipients to it but one mailbox to most providers (RFC 5233 sub-addressing), so an anonymous visitor fills it
    with « Demande reçue » past 3 an hour (only the per-IP limit, and the SIRET's 20, remain; SIRETs are free)."""
    for n in range(6):
        _public_request(session, f"victime+{n}@example.net")
    written = session.scalar(select(func.count()).select_from(OutboundEmail).where(
        OutboundEmail.recipient.like("victime+%@example.net")))
    assert written <= current_app.config["EMAIL_LIMIT_RECIPIENT_HOUR"], f"{written} emails to one mailbox"


def test_held_case_and_unicode_variants_of_an_address_share_its_bound(session):
    for variant in ("Victime@Example.NET", "VICTIME@example.net", "victime@EXAMPLE.net", "victime@ｅｘａｍｐｌｅ.net",
                    "victime@example.net"):
        _public_request(session, variant)
    recipients = session.scalars(select(OutboundEmail.recipient)).all()
    assert set(recipients) <= {"victime@example.net"}
    assert len(recipients) <= current_app.config["EMAIL_LIMIT_RECIPIENT_HOUR"]


def test_held_siret_spellings_share_the_establishment_s_bound(session, monkeypatch):
    monkeypatch.setitem(current_app.config, "EMAIL_LIMIT_SIRET_HOUR", 2)
    for n, siret in enumerate(("73282932000017", "732 829 320 00017", " 73282932000017 ", "732829320 00017")):
        _public_request(session, f"demandeur{n}@example.net", siret)
    assert session.scalar(select(func.count()).select_from(OutboundEmail)) == 2


# ============================================================================================================
# 4. The permission boundary
# ============================================================================================================

def test_held_a_forged_plus_row_outside_the_perimeter_or_beyond_the_boundary_creates_nobody(app, demo, db):
    obiwan = logged_in(app, OBIWAN)
    temple, annexe = str(eid(db, TEMPLE)), str(eid(db, ANNEXE))
    url = "/admin/users/new/"
    forged_rows = (
        {"grants-establishment": [temple, annexe], f"grants-{annexe}-reporting": "1"},  # Annexe: outside
        {"grants-establishment": [temple], f"grants-{temple}-sensitive_data": "1"},  # not his to give
        {"grants-establishment": [temple], f"grants-{temple}-manager": "1"},
    )
    for extra in forged_rows:
        response = obiwan.post(url, data={"civility": "M.", "last_name": "Marionnette", "first_name": "Ben",
                                          "email": "ben.puppet@example.org", "phone": "0611223355",
                                          "csrf_token": csrf_token(obiwan, url), "grants-present": "1", "grants-primary": temple,
                                          **extra})
        assert response.status_code in (200, 400), extra
        assert uid(db, "ben.puppet@example.org") is None, extra


# ============================================================================================================
# 5. The absolute session lifetime
# ============================================================================================================

def _clock(monkeypatch, app):
    import admin_app.security as security

    moment = {"now": security.now()}
    monkeypatch.setattr(security, "now", lambda: moment["now"])
    monkeypatch.setitem(app.config, "SESSION_IDLE_TIMEOUT", timedelta(days=7))  # only the absolute lifetime here
    return moment


def test_held_reopening_the_session_after_a_password_change_does_not_extend_it(app, demo, monkeypatch):
    moment = _clock(monkeypatch, app)
    lando = logged_in(app, LANDO)
    moment["now"] += 11 * 3600
    url = "/account/profile"
    changed = lando.post(url, data={"form": "password", "password-current": LANDO[1],
                                    "password-new": "une toute nouvelle phrase 2026",
                                    "password-confirmation": "une toute nouvelle phrase 2026", "csrf_token": csrf_token(lando, url)})
    assert changed.status_code == 302 and changed.location.endswith("/account/profile")
    assert lando.get(url).status_code == 200
    moment["now"] += 3600 + 5  # 12 h after the login, 1 h after the password change
    response = lando.get(url)
    assert response.status_code == 302 and "/login" in response.location


def test_held_a_session_without_its_login_clock_is_refused(app, demo):
    lando = logged_in(app, LANDO)
    with lando.session_transaction() as session:
        session.pop("logged_in_at", None)
    response = lando.get("/account/profile")
    assert response.status_code == 302 and "/login" in response.location
    other = logged_in(app, LANDO)
    with other.session_transaction() as session:
        session["logged_in_at"] = True  # a bool is an int to Python: still refused
    assert other.get("/account/profile").status_code == 302
