"""The history that volume accounts leave behind: requests, emails and audit entries, in time order."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AccountRequest, AuditEvent, OutboundEmail, RequestKind, User, wording

from .bulk_write import insert_rows

if TYPE_CHECKING:
    from .volume import Life


_REQUEST_COLUMNS = ("requested_at", "civility", "last_name", "first_name", "email", "phone", "job_title", "company_name",
                    "siret", "kind", "status", "decided_at", "decided_by_id", "refusal_reason", "user_id")
_EMAIL_COLUMNS = ("created_at", "recipient", "subject", "kind", "status", "body_text", "body_html", "next_attempt_at",
                  "sent_at", "attempts")
_EVENT_COLUMNS = ("created_at", "actor_id", "actor_label", "action", "target_type", "target_id", "target_label", "before",
                  "after", "ip")


class History:
    """What the accounts left behind, at the portal's scale: the lists of requests, emails and the
    audit trail are measured on as many rows as a real portal of that size would hold, not on the
    demo's handful (a missing index only shows on volume).

    Per user, at the dates of its life: its creation in the audit trail, the verification email, then
    as far as the user went, the email verified, the password email, the password chosen, the last
    login. A share of the accounts was opened by a request, approved just before; other people's
    requests were refused, or wait (recent ones). Rows are kept as tuples (a million users leave five
    million entries) and written in time order, as they were written: their first column is their date.
    """

    _STATUSES = ["approved"] * 92 + ["refused"] * 5 + ["pending"] * 3

    def __init__(self, session: Session, params: dict[str, Any], now: datetime, establishments: list[dict[str, Any]],
                 company_names: dict[int, str], draw_person: Callable[[random.Random, Faker], dict[str, Any]]) -> None:
        self.session, self.params, self.now = session, params, now
        self.establishments, self.company_names, self.draw_person = establishments, company_names, draw_person
        staff = session.scalar(select(User).where(User.is_staff.is_(True)).order_by(User.id).limit(1))
        self.actor_id = staff.id if staff else None
        self.actor_label = wording.user_label(staff) if staff else "Système"
        self.requests: list[tuple[Any, ...]] = []
        self.emails: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []

    def event(self, at: datetime, action: str, target_type: str, target_id: int | None, target_label: str,
              who: dict[str, Any] | None = None, after: dict[str, Any] | None = None, ip: str | None = None) -> None:
        actor = (who["id"], wording.label(who["last_name"], who["first_name"], who["email"])) if who else (None, "Système")
        self.events.append((at, actor[0], actor[1], action, target_type, target_id, target_label, None, after, ip))

    def add(self, rng: random.Random, fake: Faker, users: list[dict[str, Any]], lives: list[Life], primaries: list[int]) -> None:
        params = self.params
        for user, life, primary in zip(users, lives, primaries, strict=True):
            created = life.created
            label = wording.label(user["last_name"], user["first_name"], user["email"])
            if rng.random() < params["request_share"]:
                self._request(rng, fake, user, created, primary)
            self.events.append((created, self.actor_id, self.actor_label, "user.create", "user", user["id"], label, None,
                                {"email": user["email"], "active": True}, "127.0.0.1"))
            sent_emails = [("verify_email", "Validez votre adresse email", created, life.verify_sent)]
            if life.password_sent is not None:
                sent_emails.append(("set_password", "Créez votre mot de passe", life.verified, life.password_sent))
            for kind, subject, written, sent in sent_emails:
                body = f"Bonjour {user['first_name']} {user['last_name']},\n\n{subject} : ouvrez le lien reçu."
                self.emails.append((written, user["email"], subject, kind, "sent", body, "", written, sent, 1))
                self.event(sent, "email.sent", "email", None, f"{subject} → {user['email']}")
            if life.verified is not None:
                self.event(life.verified, "user.verify_email", "user", user["id"], label, user, {"email": user["email"]})
            if life.password_at is not None:
                self.event(life.password_at, "user.set_password", "user", user["id"], label, user)
            if life.last_login is not None:
                self.event(life.last_login, "login.success", "user", user["id"], label, user, ip=f"203.0.113.{rng.randint(1, 254)}")

    def _request(self, rng: random.Random, fake: Faker, user: dict[str, Any], created: datetime, primary: int) -> None:
        now = self.now
        status = rng.choice(self._STATUSES)
        if status == "approved":  # this account's own request, approved when the account was created
            person, establishment = user, self.establishments[primary]
            requested_at, decided_at = created - timedelta(minutes=rng.randint(10, 5 * 24 * 60)), created
        else:  # someone else's, about the same time: refused within days, or still waiting (recent)
            person = self.draw_person(rng, fake)
            establishment = self.establishments[rng.randrange(len(self.establishments))]
            if status == "refused":
                requested_at = created
                decided_at = min(now, requested_at + timedelta(hours=rng.uniform(1, 72)))
            else:
                requested_at, decided_at = now - timedelta(days=rng.expovariate(1 / 4)), None
        self.requests.append((
            requested_at, person["civility"], person["last_name"], person["first_name"], person["email"], person["phone"],
            person["job_title"], self.company_names[establishment["company_id"]], establishment["siret"],
            RequestKind.OPENING.value, status, decided_at, None if status == "pending" else self.actor_id,
            "Votre entreprise n'est pas adhérente." if status == "refused" else None,
            user["id"] if status == "approved" else None,
        ))

    def write(self) -> dict[str, int]:
        for rows in (self.requests, self.emails, self.events):
            rows.sort(key=itemgetter(0))
        insert_rows(self.session, AccountRequest, self.requests, _REQUEST_COLUMNS)
        insert_rows(self.session, OutboundEmail, self.emails, _EMAIL_COLUMNS)
        insert_rows(self.session, AuditEvent, self.events, _EVENT_COLUMNS)
        return {"requests": len(self.requests), "emails": len(self.emails), "audit_events": len(self.events)}
