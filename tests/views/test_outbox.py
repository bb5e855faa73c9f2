"""The emails screen: filters kept in the URL, newest first, pages that never overlap, "Renvoyer"."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from models import AuditEvent, OutboundEmail, utcnow

from ..http import csrf_token
from ..services import factories as f

COUNT = re.compile(r"Nombre d'emails : (\d+)")
RECIPIENTS = re.compile(r'<td class="col-recipient">([^<]*)</td>')


@pytest.fixture
def staff_client(db, as_member):
    """A staff member of their own, logged in: the emails screen is staff's."""
    return as_member(f.member(db.session, staff=True))


def add_emails(db):
    db.session.execute(delete(OutboundEmail))
    now = utcnow()
    rows = [("a@example.org", "verify_email", "sent"), ("b@example.org", "set_password", "failed"),
            ("c@example.org", "verify_email", "failed"), ("d@other.org", "request_refused", "pending")]
    for minutes, (recipient, kind, status) in enumerate(rows):
        db.session.add(OutboundEmail(recipient=recipient, subject="Objet", body_text="Corps", kind=kind, status=status,
                                     created_at=now - timedelta(minutes=minutes), attempts=5 if status == "failed" else 1))
    # Two emails queued in the same instant: the order falls back on the id, so pages never overlap.
    for recipient in ("same1@example.org", "same2@example.org"):
        db.session.add(OutboundEmail(recipient=recipient, subject="Objet", body_text="Corps", kind="verify_email", status="sent",
                                     created_at=now - timedelta(hours=1)))
    db.session.commit()


def listing(client, query=""):
    html = client.get(f"/admin/emails/{query}").get_data(as_text=True)
    return int(COUNT.search(html).group(1)), RECIPIENTS.findall(html)


def test_filters_newest_first_and_stable_pages(staff_client, db):
    add_emails(db)
    assert listing(staff_client) == (6, ["a@example.org", "b@example.org", "c@example.org", "d@other.org",
                                         "same2@example.org", "same1@example.org"])
    assert listing(staff_client, "?statut=failed") == (2, ["b@example.org", "c@example.org"])
    assert listing(staff_client, "?statut=failed&type=verify_email") == (1, ["c@example.org"])
    assert listing(staff_client, "?destinataire=OTHER") == (1, ["d@other.org"])
    assert listing(staff_client, "?statut=nimporte") == listing(staff_client)  # an unknown status filters nothing
    first, second = listing(staff_client, "?page_size=20&sort=0")[1], listing(staff_client, "?page_size=20&sort=0&desc=1")[1]
    assert first == second[::-1]  # ascending is descending read backwards, ties included


def test_renvoyer_puts_failed_emails_back_in_the_queue_with_their_audit(staff_client, db):
    add_emails(db)
    ids = dict(db.session.execute(select(OutboundEmail.recipient, OutboundEmail.id)).all())
    token = csrf_token(staff_client, "/admin/emails/")
    html = staff_client.post("/admin/emails/action/", data={"csrf_token": token, "action": "retry", "url": "/admin/emails/",
                                                            "rowid": [str(ids["b@example.org"]), str(ids["a@example.org"])]},
                             follow_redirects=True).get_data(as_text=True)
    assert "1 email remis dans la file d&#39;envoi." in html
    db.session.expire_all()
    statuses = dict(db.session.execute(select(OutboundEmail.recipient, OutboundEmail.status)).all())
    assert statuses["b@example.org"] == "pending" and statuses["a@example.org"] == "sent"
    # A full set of attempts again: kept at 5, the next failure would give up at once.
    attempts = dict(db.session.execute(select(OutboundEmail.recipient, OutboundEmail.attempts)).all())
    assert (attempts["b@example.org"], attempts["c@example.org"]) == (0, 5)
    assert db.session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "email.retry")).all() == [ids["b@example.org"]]


def test_the_details_page_shows_the_body(staff_client, db):
    add_emails(db)
    email_id = db.session.scalar(select(OutboundEmail.id).where(OutboundEmail.recipient == "a@example.org"))
    html = staff_client.get(f"/admin/emails/details/?id={email_id}").get_data(as_text=True)
    assert "Corps" in html and "a@example.org" in html
