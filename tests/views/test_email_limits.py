"""Third parties cannot make the product spam anyone, through HTTP: the amplification found in review
(70 public requests from 14 addresses, one genuine email each to Luke) replayed; the logged-in
« Demande de rattachement » rate-limited per IP and per account. Services: tests/services/test_email_limits.py."""

from __future__ import annotations

from sqlalchemy import func, select, update
from stdnum import luhn

from models import AccountRequest, AuditEvent, EmailStatus, OutboundEmail, utcnow

from ..demo import LANDO, LUKE, OBIWAN, STAFF, TEMPLE
from ..http import csrf_token, login

URGENT = "URGENT – appelez le 01 23 45 67 89"
SENT = "Votre demande a bien été envoyée."


def public_request(client, ip: str, n: int, siret: str = TEMPLE, **changes):
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/account/request", environ_base=environ).get_data(as_text=True)
    assert "csrf_token" in page
    data = {"civility": "M.", "last_name": "Vador", "first_name": "Dark", "email": f"visitor{n}@example.net",
            "phone": "0612345678", "job_title": "", "company_name": URGENT, "siret": siret,
            "csrf_token": csrf_token(client, "/account/request")}
    return client.post("/account/request", data={**data, **changes}, environ_base=environ)


def emails_to(db, recipient: str, kind: str = "request_notification") -> list[OutboundEmail]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.recipient == recipient, OutboundEmail.kind == kind)))


def worker_sends_everything(db) -> None:
    db.session.execute(update(OutboundEmail).where(OutboundEmail.status == EmailStatus.PENDING.value)
                       .values(status=EmailStatus.SENT.value, sent_at=utcnow()))
    db.session.commit()


def test_seventy_requests_from_fourteen_addresses_reach_luke_at_most_the_hourly_bound(app, demo, db):
    already = db.session.scalar(select(func.count()).select_from(AccountRequest).where(AccountRequest.siret == TEMPLE))
    answers = []
    for ip_number in range(14):
        client = app.test_client()
        for n in range(5):  # the per-IP limit of the public form lets each address file five
            response = public_request(client, f"198.51.100.{ip_number + 1}", ip_number * 5 + n)
            answers.append((response.status_code, SENT in response.get_data(as_text=True)))
            worker_sends_everything(db)  # a prompt worker: grouping does not help, the bound does
    assert answers == [(200, True)] * 70  # the same answer, sent or not: never tell
    assert db.session.scalar(select(func.count()).select_from(AccountRequest).where(AccountRequest.siret == TEMPLE)) \
        == already + 70
    bound = app.config["EMAIL_LIMIT_RECIPIENT_HOUR"]
    assert len(emails_to(db, LUKE[0])) == bound and len(emails_to(db, OBIWAN[0])) == bound
    acknowledged = db.session.scalar(select(func.count()).select_from(OutboundEmail)
                                     .where(OutboundEmail.kind == "request_received"))
    assert acknowledged == app.config["EMAIL_LIMIT_SIRET_HOUR"] - already  # the establishment's own bound (the demo's
    # requests were filed just now too)
    labels = sorted(db.session.scalars(select(AuditEvent.target_label).where(AuditEvent.action == "email.suppressed")))
    assert labels == sorted([LUKE[0], OBIWAN[0], f"SIRET {TEMPLE}"])  # one entry per burst


def test_with_a_slow_worker_the_requests_of_the_hour_are_one_email(app, demo, db):
    client = app.test_client()
    for n in range(3):
        assert public_request(client, "198.51.100.7", n, last_name="Solo", first_name="Han").status_code == 200
    (email,) = emails_to(db, LUKE[0])
    assert email.subject == "3 nouvelles demandes de création de compte"
    assert [line for line in email.body_text.splitlines() if "URGENT" in line] == [f"   > Raison sociale : « {URGENT} »"] * 3


def _siret(n: int) -> str:
    siren = f"7328{n:04d}"
    siren += luhn.calc_check_digit(siren)
    return siren + "0001" + luhn.calc_check_digit(siren + "0001")


def test_one_logged_in_account_files_attachment_requests_within_its_limit_whatever_its_address(app, demo, db):
    lando = app.test_client()
    assert login(lando, *LANDO).status_code == 302
    statuses = []
    for n in range(6):
        environ = {"REMOTE_ADDR": "203.0.113.1" if n < 3 else "203.0.113.2"}  # a second address does not reset it
        token = csrf_token(lando, "/account/attachment-request")
        statuses.append(lando.post("/account/attachment-request", environ_base=environ,
                                   data={"company_name": URGENT, "siret": _siret(n), "csrf_token": token}).status_code)
    assert statuses == [302] * 5 + [429]
    assert db.session.scalar(select(func.count()).select_from(AccountRequest).where(AccountRequest.email == LANDO[0])) == 5
    assert len(emails_to(db, STAFF[0])) == 1  # unknown establishments: the staff, told once for the five
    other = app.test_client()
    assert login(other, *OBIWAN).status_code == 302
    token = csrf_token(other, "/account/attachment-request")
    answer = other.post("/account/attachment-request", environ_base={"REMOTE_ADDR": "203.0.113.2"},
                        data={"company_name": "ONE", "siret": _siret(9), "csrf_token": token})
    assert answer.status_code == 302  # another account, same address: its own counter


def test_the_logged_in_form_is_limited_per_address_too(app, demo, db, monkeypatch):
    monkeypatch.setitem(app.config, "ATTACHMENT_REQUEST_LIMIT_PER_IP", "2 per hour")
    statuses = []
    for n, who in enumerate([LANDO, OBIWAN, LUKE]):
        client = app.test_client()
        assert login(client, *who).status_code == 302
        token = csrf_token(client, "/account/attachment-request")
        statuses.append(client.post("/account/attachment-request", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                                    data={"company_name": "ONE", "siret": _siret(20 + n), "csrf_token": token}).status_code)
    assert statuses == [302, 302, 429]
    assert "Trop de" in client.post("/account/attachment-request", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                                    data={"csrf_token": token}).get_data(as_text=True)
