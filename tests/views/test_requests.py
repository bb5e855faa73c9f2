"""Account creation requests: the public form, the tab, approval (✓) and refusal (✖)."""

import re
import threading

import pytest
from sqlalchemy import func, select, update

from admin_app.extensions import db as app_db
from admin_app.services import Actor, ServiceError
from admin_app.services import requests as request_service
from models import AccountRequest, AuditEvent, Establishment, Grant, Habilitation, OutboundEmail, User, utcnow

from ..demo import STAFF
from ..http import csrf_token
from ..services import factories as f

FORM = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "ahsoka@example.org",
        "phone": "06 11 22 33 44", "job_title": "Responsable RH", "company_name": "Temple JEDI", "siret": "111 385 407 00015"}
COUNT = re.compile(r"Nombre de demande\(s\) : ([\d\u202f]+)")


def submit(client, **changes):
    data = {**FORM, **changes, "csrf_token": csrf_token(client, "/account/request")}
    return client.post("/account/request", data=data)


def spaced(siret: str) -> str:
    """A SIRET typed as people type it: « 111 385 407 00015 »."""
    return f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"


@pytest.fixture
def site(db):
    """A known establishment of the référentiel, named as the form's company."""
    made = f.establishment(db.session, of=f.company(db.session, name="Temple JEDI"), name="Temple JEDI")
    db.session.commit()
    return made


def request_id(db, email):
    return db.session.scalar(select(AccountRequest.id).where(AccountRequest.email == email, AccountRequest.status == "pending"))


# --- the public form ------------------------------------------------------------------------------------

def test_the_form_warns_employees_looking_for_the_cpf_before_the_fields(client):
    html = client.get("/account/request").get_data(as_text=True)
    assert html.index("compte personnel de formation") < html.index('name="last_name"')
    assert "moncompteformation.gouv.fr" in html and '<html lang="fr">' in html


def test_a_valid_request_is_recorded_and_acknowledged_by_email(client, db, site):
    siret = site.siret
    response = submit(client, siret=spaced(siret))
    assert response.status_code == 200 and "Votre demande a bien été envoyée" in response.get_data(as_text=True)
    saved = db.session.scalar(select(AccountRequest).where(AccountRequest.email == "ahsoka@example.org"))
    assert (saved.kind, saved.status, saved.siret, saved.phone, saved.company_name) == (
        "opening", "pending", siret, "+33611223344", "Temple JEDI")
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "ahsoka@example.org"))
    assert email.subject == "Demande reçue" and f"{siret[:9]} {siret[9:]}" in email.body_text


def test_a_request_for_an_existing_account_is_a_rattachement_and_the_answer_does_not_tell(client, db, site):
    holder = f.user(db.session, [(site, [Habilitation.FUNDING])])
    elsewhere, holder_email = f.establishment(db.session).siret, holder.email
    db.session.commit()
    first = submit(client, siret=spaced(site.siret)).get_data(as_text=True)
    second = submit(client, email=holder_email, siret=elsewhere).get_data(as_text=True)
    body = lambda html: html.split('<main id="main"')[1]  # noqa: E731
    assert body(first) == body(second)
    kind = db.session.scalar(select(AccountRequest.kind).where(AccountRequest.email == holder_email))
    assert kind == "attachment"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"siret": "1113854070001"}, "Le SIRET doit comporter 14 chiffres."),
        ({"siret": "11138540700016"}, "clé de contrôle incorrecte"),
        ({"company_name": ""}, "La raison sociale est obligatoire."),
        ({"email": "pas-un-email"}, "Cette adresse email n&#39;est pas valide."),
        ({"phone": "123"}, "Ce numéro de téléphone n&#39;est pas valide."),
        ({"last_name": ""}, "Le nom est obligatoire."),
        ({"civility": ""}, "Choisissez la civilité"),
    ],
)
def test_each_invalid_field_gets_a_french_message_and_nothing_is_saved(client, db, changes, message):
    response = submit(client, **changes)
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AccountRequest).where(AccountRequest.email == "ahsoka@example.org")) == 0


def test_a_second_pending_request_for_the_same_email_and_siret_files_nothing_and_says_the_same(client, db, site):
    first = submit(client, siret=spaced(site.siret)).get_data(as_text=True)
    second = submit(client, email="AHSOKA@example.org", siret=site.siret).get_data(as_text=True)
    assert second == first  # the answer does not tell (tests/views/test_claims_identity.py: byte for byte)
    assert db.session.scalar(select(func.count()).select_from(AccountRequest).where(AccountRequest.email == "ahsoka@example.org")) == 1


def test_the_form_is_rate_limited_per_ip(client, app):
    statuses = [submit(client, email=f"user{i}@example.org").status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]


def test_the_form_requires_its_csrf_token(client, db):
    response = client.post("/account/request", data=FORM)
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(AccountRequest).where(AccountRequest.email == "ahsoka@example.org")) == 0


# --- the tab -----------------------------------------------------------------------------------------

def rows(client, query=""):
    html = client.get(f"/admin/account-requests/{query}").get_data(as_text=True)
    return int(COUNT.search(html).group(1).replace("\u202f", "")), re.findall(r'<td class="col-last_name">([^<]*)</td>', html), html


def test_the_tab_lists_pending_requests_oldest_first_with_the_guides_columns(staff_client):
    count, names, html = rows(staff_client)
    assert count == 3 and names == ["BINKS", "SOLO", "FETT"]
    for header in ("Nom", "Prénom", "Fonction", "Raison sociale", "Type de demande", "Date de la demande", "Email", "SIRET",
                   "Établissement connu"):
        assert f">{header} " in html or f">{header}<" in html, header
    binks = re.search(r"BINKS</td>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", binks)
    assert cells[:8] == ["Jar-Jar", "Gaffeur du mois", "OPCA DEFI", "Ouverture", "02/05/2018 18:22", "jar-jar.binks@example.org",
                         "402820658 00217", "Oui"]
    assert "Non" in re.search(r"FETT</td>(.*?)</tr>", html, re.S).group(1)


def test_the_users_list_shows_the_tab_with_the_pending_count(staff_client):
    html = staff_client.get("/admin/users/").get_data(as_text=True)
    assert re.search(r'href="/admin/account-requests/"[^>]*>Demandes de création de compte <span class="badge[^"]*">3</span>', html)


@pytest.mark.parametrize(
    "query, expected",
    [
        ("?type=rattachement", ["SOLO"]),
        ("?type=ouverture", ["BINKS", "FETT"]),
        ("?entreprise=cantina", ["SOLO"]),
        ("?email=boba", ["FETT"]),
        ("?du=2018-05-04", ["SOLO", "FETT"]),
        ("?au=2018-05-02", ["BINKS"]),
        ("?du=2018-05-03&au=2018-05-04", ["SOLO"]),
        ("?statut=validees", []),
        ("?statut=toutes&sort=0", ["BINKS", "FETT", "SOLO"]),
        ("?sort=5&desc=1", ["FETT", "SOLO", "BINKS"]),
    ],
)
def test_filters_counts_and_sorting(staff_client, query, expected):
    count, names, _ = rows(staff_client, query)
    assert names == expected and count == len(expected)


# --- approve (✓) -------------------------------------------------------------------------------------------

def test_approving_an_opening_opens_the_prefilled_creation_form(staff_client, db):
    jarjar = request_id(db, "jar-jar.binks@example.org")
    response = staff_client.get(f"/admin/account-requests/approve/{jarjar}")
    assert response.status_code == 302 and f"/admin/users/new/?request={jarjar}" in response.location
    html = staff_client.get(response.location).get_data(as_text=True)
    for value in ('value="BINKS"', 'value="Jar-Jar"', 'value="jar-jar.binks@example.org"', 'value="06 01 02 03 04"',
                  'value="Gaffeur du mois"', "OPCA DEFI – 402820658 00217 – 75008 Paris"):
        assert value in html, value
    # Cancelling (leaving the page) leaves the request pending.
    db.session.expire_all()
    assert db.session.get(AccountRequest, jarjar).status == "pending"


def approve_opening(client, db, rid, establishment_siret, flags=("funding",), **changes):
    eid = db.session.scalar(select(Establishment.id).where(Establishment.siret == establishment_siret))
    url = f"/admin/users/new/?request={rid}"
    data = {"civility": "M.", "last_name": "Binks", "first_name": "Jar-Jar", "email": "jar-jar.binks@example.org",
            "phone": "06 01 02 03 04", "job_title": "Gaffeur du mois", "csrf_token": csrf_token(client, url),
            "grants-present": "1", "grants-establishment": [str(eid)], "grants-primary": str(eid)}
    data.update({f"grants-{eid}-{flag}": "1" for flag in flags})
    data.update(changes)
    return client.post(url, data=data)


def test_saving_the_prefilled_form_creates_the_user_and_approves_the_request(staff_client, db):
    jarjar = request_id(db, "jar-jar.binks@example.org")
    response = approve_opening(staff_client, db, jarjar, "40282065800217", flags=("funding", "reporting"))
    assert response.status_code == 302 and response.location.startswith("/admin/account-requests/")
    user = db.session.scalar(select(User).where(User.email == "jar-jar.binks@example.org"))
    assert user.primary_grant.establishment.siret == "40282065800217"
    assert user.primary_grant.funding and user.primary_grant.reporting and not user.primary_grant.manager
    decided = db.session.get(AccountRequest, jarjar)
    staff_id = db.session.scalar(select(User.id).where(User.email == STAFF[0]))
    assert (decided.status, decided.user_id, decided.decided_by_id) == ("approved", user.id, staff_id)
    assert decided.decided_at is not None
    assert db.session.scalar(select(OutboundEmail.subject).where(OutboundEmail.recipient == user.email)) == "Validez votre adresse email"
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "request.approve", AuditEvent.target_id == jarjar))
    assert "BINKS" not in rows(staff_client)[1]


def test_an_unknown_siret_is_said_and_the_staff_member_picks_the_establishment(staff_client, db):
    boba = request_id(db, "boba.fett@example.org")
    html = staff_client.get(f"/admin/users/new/?request={boba}").get_data(as_text=True)
    assert "ne correspond à aucun établissement connu" in html and "/admin/establishments/new/" in html
    data_email = {"email": "boba.fett@example.org", "last_name": "Fett", "first_name": "Boba", "civility": "Mme"}
    response = approve_opening(staff_client, db, boba, "55220335800015", flags=(), **data_email)
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "boba.fett@example.org"))
    assert user.primary_grant.establishment.siret == "55220335800015"
    assert db.session.get(AccountRequest, boba).status == "approved"


def test_an_invalid_approval_form_leaves_the_request_pending(staff_client, db):
    jarjar = request_id(db, "jar-jar.binks@example.org")
    response = approve_opening(staff_client, db, jarjar, "40282065800217", phone="12")
    assert response.status_code == 200 and "Ce numéro de téléphone n&#39;est pas valide." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(AccountRequest, jarjar).status == "pending"
    assert db.session.scalar(select(User.id).where(User.email == "jar-jar.binks@example.org")) is None


def han_proves_his_address(db) -> None:
    """The demo's Han has not proven his address: until he does, his Rattachement cannot be approved."""
    db.session.execute(update(User).where(User.email == "han.solo@example.org").values(email_verified_at=utcnow()))
    db.session.commit()


def test_approving_a_rattachement_opens_the_users_edit_page_with_the_new_row(staff_client, db):
    han_request = request_id(db, "han.solo@example.org")
    gone = staff_client.get(f"/admin/account-requests/approve/{han_request}", follow_redirects=True)
    assert "n&#39;a pas validé celle-ci" in gone.get_data(as_text=True)  # not yet: his address is not proven
    han_proves_his_address(db)
    han = db.session.scalar(select(User).where(User.email == "han.solo@example.org"))
    response = staff_client.get(f"/admin/account-requests/approve/{han_request}")
    assert f"/admin/users/edit/?id={han.id}&request={han_request}" in response.location
    html = staff_client.get(response.location).get_data(as_text=True)
    assert "Cantina Ancre d&#39;Anchorhead – 552203358 00023" in html and "Cantina de Mos Eisley – 552203358 00015" in html

    cantina = db.session.scalar(select(Establishment.id).where(Establishment.siret == "55220335800015"))
    anchorhead = db.session.scalar(select(Establishment.id).where(Establishment.siret == "55220335800023"))
    url = f"/admin/users/edit/?id={han.id}&request={han_request}"
    data = {"civility": "M.", "last_name": "Solo", "first_name": "Han", "email": han.email, "phone": "0698765432",
            "job_title": han.job_title, "version": str(han.version), "csrf_token": csrf_token(staff_client, url),
            "grants-present": "1", "grants-establishment": [str(cantina), str(anchorhead)], "grants-primary": str(cantina),
            f"grants-{cantina}-payments": "1", f"grants-{anchorhead}-reporting": "1"}
    assert staff_client.post(url, data=data).status_code == 302
    db.session.expire_all()
    assert sorted(g.establishment_id for g in db.session.get(User, han.id).grants) == sorted([cantina, anchorhead])
    assert db.session.get(AccountRequest, han_request).status == "approved"


def post_action(client, action, ids=(), query="", all_matching=False):
    data = {"csrf_token": csrf_token(client, "/admin/account-requests/"), "action": action, "url": "/admin/account-requests/",
            "rowid": [str(i) for i in ids]}
    if all_matching:
        data["all_matching"] = "1"
    return client.post(f"/admin/account-requests/action/{query}", data=data, follow_redirects=True)


def test_bulk_approval_with_mixed_outcomes(staff_client, db):
    han_proves_his_address(db)
    ids = [request_id(db, e) for e in ("jar-jar.binks@example.org", "han.solo@example.org", "boba.fett@example.org")]
    html = post_action(staff_client, "approve", ids).get_data(as_text=True)
    # One message: those approved, then those skipped and why.
    assert "2 demandes validées : BINKS Jar-Jar, SOLO Han. Non validée : FETT Boba (SIRET 73282932000017 inconnu)." in html
    jarjar = db.session.scalar(select(User).where(User.email == "jar-jar.binks@example.org"))
    assert jarjar.primary_grant.establishment.siret == "40282065800217"
    assert not any(jarjar.primary_grant.flags().values())  # universal features only
    han = db.session.scalar(select(User).where(User.email == "han.solo@example.org"))
    assert {g.establishment.siret for g in han.grants} == {"55220335800015", "55220335800023"}
    assert han.primary_grant.establishment.siret == "55220335800015"
    assert [r.status for r in db.session.scalars(select(AccountRequest).order_by(AccountRequest.requested_at))] == [
        "approved", "approved", "pending"]


def test_bulk_approval_on_all_matching_skips_an_email_taken_meanwhile(staff_client, db):
    db.session.add(User(civility="M.", last_name="Binks", first_name="Jar-Jar", email="jar-jar.binks@example.org", phone="0601020304"))
    db.session.commit()
    html = post_action(staff_client, "approve", query="?type=ouverture", all_matching=True).get_data(as_text=True)
    assert ("Non validées : BINKS Jar-Jar (adresse email déjà utilisée par un compte), FETT Boba (SIRET 73282932000017 inconnu)."
            in html.replace("&#39;", "'"))


# --- refuse (✖) -------------------------------------------------------------------------------------------

def refuse(client, ids, reason, details=""):
    url = f"/admin/account-requests/refuse/?ids={','.join(map(str, ids))}"
    return client.post(url, data={"reason": reason, "details": details, "csrf_token": csrf_token(client, url)}, follow_redirects=True)


def test_refusing_asks_a_reason_emails_it_and_keeps_it(staff_client, db):
    boba = request_id(db, "boba.fett@example.org")
    page = staff_client.get(f"/admin/account-requests/refuse/?ids={boba}").get_data(as_text=True)
    assert "Salarié à la recherche de la plateforme CPF" in page and "Autre (préciser)" in page
    html = refuse(staff_client, [boba], "cpf").get_data(as_text=True)
    assert "1 demande refusée : FETT Boba ; le motif a été envoyé par email." in html
    refused = db.session.get(AccountRequest, boba)
    assert refused.status == "refused" and "moncompteformation.gouv.fr" in refused.refusal_reason
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "boba.fett@example.org"))
    assert "n'a pas été acceptée" in email.subject and "moncompteformation.gouv.fr" in email.body_text
    details = staff_client.get(f"/admin/account-requests/details/?id={boba}").get_data(as_text=True)
    assert "Motif du refus" in details and "moncompteformation.gouv.fr" in details and "Demande refusée" in details


def test_other_needs_a_free_text_and_nothing_changes_without_it(staff_client, db):
    boba = request_id(db, "boba.fett@example.org")
    html = refuse(staff_client, [boba], "other").get_data(as_text=True)
    assert "Précisez le motif du refus." in html
    db.session.expire_all()
    assert db.session.get(AccountRequest, boba).status == "pending"
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0
    refuse(staff_client, [boba], "other", "Votre entreprise a fermé cet établissement.")
    db.session.expire_all()
    assert db.session.get(AccountRequest, boba).refusal_reason == "Votre entreprise a fermé cet établissement."


def test_bulk_refusal_goes_through_the_reason_page(staff_client, db):
    ids = [request_id(db, e) for e in ("jar-jar.binks@example.org", "boba.fett@example.org")]
    data = {"csrf_token": csrf_token(staff_client, "/admin/account-requests/"), "action": "refuse", "url": "/",
            "rowid": [str(i) for i in ids]}
    response = staff_client.post("/admin/account-requests/action/", data=data)
    assert response.status_code == 302 and "/admin/account-requests/refuse/?ids=" in response.location
    refuse(staff_client, ids, "not_client")
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.kind == "request_refused")) == 2


def test_only_pending_requests_can_be_decided(staff_client, db):
    boba = request_id(db, "boba.fett@example.org")
    refuse(staff_client, [boba], "cpf")
    again = staff_client.get(f"/admin/account-requests/approve/{boba}", follow_redirects=True)
    assert "Cette demande a déjà été traitée." in again.get_data(as_text=True)
    assert staff_client.get(f"/admin/users/new/?request={boba}").status_code == 404


def test_two_staff_members_approving_at_once_make_one_user(app, db):
    site = f.establishment(db.session)
    staff_id, eid = f.user(db.session, staff=True).id, site.id
    db.session.add(AccountRequest(civility="M.", last_name="Binks", first_name="Jar-Jar", email="jar-jar.binks@example.org",
                                  phone="+33601020304", job_title="Gaffeur du mois", company_name="OPCA DEFI", siret=site.siret))
    db.session.commit()
    jarjar = request_id(db, "jar-jar.binks@example.org")
    barrier = threading.Barrier(2)
    outcomes = []

    def approve():
        with app.app_context():
            session = app_db.session
            staff = session.get(User, staff_id)
            account_request = session.get(AccountRequest, jarjar)
            data = {name: getattr(account_request, name) for name in ("civility", "last_name", "first_name", "email", "phone", "job_title")}
            barrier.wait()
            try:
                request_service.approve_opening(session, Actor(staff), account_request, data,
                                                [request_service.GrantInput(eid, is_primary=True)])
                outcomes.append("approved")
            except ServiceError as exc:
                outcomes.append(exc.message)
            finally:
                session.remove()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("approved") == 1
    refused = next(o for o in outcomes if o != "approved")
    assert "déjà été traitée par quelqu'un d'autre" in refused
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "jar-jar.binks@example.org")) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "request.approve")) == 1
    assert db.session.scalar(select(func.count()).select_from(Grant).join(User).where(User.email == "jar-jar.binks@example.org")) == 1
