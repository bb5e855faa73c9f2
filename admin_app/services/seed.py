"""Demo data (the guide's cast) and deterministic volume data for the benchmark."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from stdnum import luhn

from models import (
    AccountRequest,
    AuditEvent,
    Company,
    Establishment,
    Grant,
    Habilitation,
    OutboundEmail,
    RequestKind,
    User,
    search_key,
    utcnow,
)
from models.accounts import new_session_token

from . import audit
from .common import SYSTEM, transaction
from .passwords import hash_password

SEED_DATA = Path(__file__).resolve().parent.parent.parent / "seed_data"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SEED_DATA / name).read_text(encoding="utf-8"))


def load_demo(session: Session) -> int:
    """Create whatever part of the demo cast is missing; return how many rows were added."""
    with transaction(session):
        cast = _load("demo.json")
        added = 0
        establishments: dict[str, Establishment] = {}
        for c in cast["companies"]:
            company = session.scalar(select(Company).where(Company.siren == c["siren"]))
            if company is None:
                company = Company(name=c["name"], siren=c["siren"])
                session.add(company)
                added += 1
            for e in c["establishments"]:
                establishment = session.scalar(select(Establishment).where(Establishment.siret == e["siret"]))
                if establishment is None:
                    establishment = Establishment(company=company, **e)
                    session.add(establishment)
                    added += 1
                establishments[e["siret"]] = establishment
        session.flush()
        for u in cast["users"]:
            if session.scalar(select(User.id).where(User.email == u["email"])) is not None:
                continue
            user = User(
                civility=u["civility"],
                last_name=u["last_name"],
                first_name=u["first_name"],
                email=u["email"],
                phone=u["phone"],
                job_title=u.get("job_title"),
                is_staff=u.get("is_staff", False),
                active=u.get("active", True),
                email_verified_at=utcnow() if u.get("verified", True) else None,
                password_hash=hash_password(u["password"]) if u.get("password") else None,
                last_login_at=datetime.fromisoformat(u["last_login_at"]) if u.get("last_login_at") else None,
            )
            for g in u["grants"]:
                grant = Grant(establishment=establishments[g["siret"]], is_primary=g.get("primary", False))
                for h in g["habilitations"]:
                    setattr(grant, Habilitation(h).value, True)
                user.grants.append(grant)
            session.add(user)
            added += 1
        session.flush()
        for r in cast["requests"]:
            requested_at = datetime.fromisoformat(r["requested_at"])
            exists = session.scalar(
                select(AccountRequest.id).where(AccountRequest.email == r["email"], AccountRequest.siret == r["siret"])
            )
            if exists is not None:
                continue
            has_account = session.scalar(select(User.id).where(User.email == r["email"])) is not None
            kind = RequestKind.ATTACHMENT if has_account else RequestKind.OPENING
            session.add(AccountRequest(**{**r, "requested_at": requested_at}, kind=kind.value))
            added += 1
        if added:
            audit.record(session, SYSTEM, "seed.demo", "database", None, "Données de démonstration", None, {"rows": added})
        return added


def _valid(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


def generate_volume(session: Session, users: int) -> dict[str, int]:
    """Insert `users` users with companies, establishments and grants, reproducibly (fixed seed)."""
    with transaction(session):
        params = _load("volume.json")
        # Not a secret (B311): reproducible demo data, not security.
        rng = random.Random(params["seed"])  # nosec B311
        n_companies = max(1, users // params["users_per_company"])
        start_company = (session.scalar(select(func.max(Company.id))) or 0) + 1
        start_establishment = (session.scalar(select(func.max(Establishment.id))) or 0) + 1
        start_user = (session.scalar(select(func.max(User.id))) or 0) + 1

        companies, establishments = [], []
        for i in range(n_companies):
            company_id = start_company + i
            siren = _valid(f"9{company_id:07d}")
            companies.append({"id": company_id, "name": f"Entreprise {company_id:05d} {rng.choice(_WORDS)}", "siren": siren})
            for n in range(params["establishments_per_company"]):
                establishment_id = start_establishment + len(establishments)
                establishments.append({
                    "id": establishment_id,
                    "company_id": company_id,
                    "siren": siren,
                    "name": f"{rng.choice(_WORDS)} {rng.choice(_CITIES)} {n + 1}",
                    "siret": _valid(f"{siren}{n + 1:04d}"),
                    "postal_code": f"{rng.randint(1, 95):02d}{rng.randint(0, 999):03d}",
                    "city": rng.choice(_CITIES),
                })
        session.execute(insert(Company), companies)
        session.execute(insert(Establishment), establishments)

        now = utcnow()
        user_rows, grant_rows = [], []
        flags = [h.value for h in Habilitation if h is not Habilitation.MANAGER]
        for i in range(users):
            user_id = start_user + i
            last, first = rng.choice(_LAST_NAMES).upper(), rng.choice(_FIRST_NAMES)
            email = f"{search_key(first)}.{search_key(last)}.{user_id}@volume.example.org"
            never = rng.random() < params["never_logged_in_share"]
            user_rows.append({
                "id": user_id,
                "civility": rng.choice(("M.", "Mme")),
                "last_name": last,
                "first_name": first,
                "email": email,
                "phone": f"+3361{user_id % 10_000_000:07d}",
                "job_title": rng.choice(_JOBS),
                "active": rng.random() >= params["inactive_share"],
                "is_staff": False,
                "email_verified_at": None if never else now,
                "last_login_at": None if never else now - timedelta(minutes=rng.randint(0, 60 * 24 * 700)),
                "created_at": now,
                "updated_at": now,
                "version": 1,
                "search_text": search_key(last, first),
                "session_token": new_session_token(),
                "link_nonce": new_session_token(),
            })
            company = rng.randrange(n_companies)
            per = params["establishments_per_company"]
            picks = rng.sample(range(per), 2)
            chosen = [establishments[company * per + picks[0]]["id"]]
            if rng.random() < params["second_grant_share"]:
                chosen.append(establishments[company * per + picks[1]]["id"])
            for position, establishment_id in enumerate(chosen):
                row = {"user_id": user_id, "establishment_id": establishment_id, "is_primary": position == 0}
                manager = rng.random() < params["manager_share"]
                row["manager"] = manager
                for flag in flags:
                    row[flag] = manager or rng.random() < params["habilitation_share"]
                grant_rows.append(row)
        _insert(session, User, user_rows)
        _insert(session, Grant, grant_rows)
        _advance_sequences(session, (Company, Establishment, User))
        counts = _generate_history(session, rng, params, user_rows, establishments)
        return {"companies": len(companies), "establishments": len(establishments), "users": users, "grants": len(grant_rows),
                **counts}


def _advance_sequences(session: Session, models: tuple[Any, ...]) -> None:
    """Move PostgreSQL's id sequences past the ids inserted explicitly, or the next ordinary insert
    would take an id already used. SQLite picks max(id) + 1 by itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        session.execute(select(func.setval(sequence, select(func.max(model.id)).scalar_subquery())))


def _insert(session: Session, model: type, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 10_000):
        session.execute(insert(model), rows[start : start + 10_000])


def _generate_history(session: Session, rng: random.Random, params: dict[str, Any], users: list[dict[str, Any]],
                      establishments: list[dict[str, Any]]) -> dict[str, int]:
    """What those accounts left behind, at the portal's scale: the lists of requests, emails and the
    audit trail are measured on as many rows as a real portal of that size would hold, not on the
    demo's handful (a missing index only shows on volume).

    Per user: the account request that opened it (a share of them), its creation in the audit trail,
    the verification email and, once verified, the password email, each "sent" with its audit entry.
    """
    staff = session.scalar(select(User).where(User.is_staff.is_(True)).order_by(User.id).limit(1))
    actor_id = staff.id if staff else None
    actor_label = f"{staff.first_name} {staff.last_name} <{staff.email}>" if staff else "Système"
    now = utcnow()
    requests, emails, events = [], [], []
    statuses = ["approved"] * 92 + ["refused"] * 5 + ["pending"] * 3
    for user in users:
        created = now - timedelta(minutes=rng.randint(60, 60 * 24 * 900))
        label = f"{user['last_name']} {user['first_name']} <{user['email']}>"
        if rng.random() < params["request_share"]:
            status = rng.choice(statuses)
            establishment = rng.choice(establishments)
            requests.append({
                "civility": user["civility"], "last_name": user["last_name"], "first_name": user["first_name"],
                "email": user["email"], "phone": user["phone"], "job_title": user["job_title"],
                "company_name": establishment["name"], "siret": establishment["siret"], "kind": RequestKind.OPENING.value,
                "status": status, "requested_at": created - timedelta(days=rng.randint(0, 5)),
                "decided_at": None if status == "pending" else created, "decided_by_id": None if status == "pending" else actor_id,
                "refusal_reason": "Votre entreprise n'est pas adhérente." if status == "refused" else None,
                "user_id": user["id"] if status == "approved" else None,
            })
        events.append({"created_at": created, "actor_id": actor_id, "actor_label": actor_label, "action": "user.create",
                       "target_type": "user", "target_id": user["id"], "target_label": label, "before": None,
                       "after": {"email": user["email"], "active": True}, "ip": "127.0.0.1"})
        kinds = [("verify_email", "Validez votre adresse email")]
        if user["email_verified_at"] is not None:
            kinds.append(("set_password", "Créez votre mot de passe"))
        for kind, subject in kinds:
            sent = created + timedelta(seconds=rng.randint(5, 120))
            emails.append({"recipient": user["email"], "subject": subject, "kind": kind, "status": "sent",
                           "body_text": f"Bonjour {user['first_name']} {user['last_name']},\n\n{subject} : ouvrez le lien reçu.",
                           "body_html": "", "created_at": created, "next_attempt_at": created, "sent_at": sent, "attempts": 1})
            events.append({"created_at": sent, "actor_id": None, "actor_label": "Système", "action": "email.sent",
                           "target_type": "email", "target_id": None, "target_label": f"{subject} → {user['email']}",
                           "before": None, "after": None, "ip": None})
    _insert(session, AccountRequest, requests)
    _insert(session, OutboundEmail, emails)
    _insert(session, AuditEvent, events)
    return {"requests": len(requests), "emails": len(emails), "audit_events": len(events)}


_WORDS = ["Atelier", "Boulangerie", "Garage", "Cabinet", "Clinique", "Transports", "Hôtel", "Imprimerie",
          "Menuiserie", "Pharmacie", "Librairie", "Laboratoire", "Bureau", "Entrepôt", "Agence", "Studio"]
_CITIES = ["Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille", "Bordeaux", "Rennes", "Reims", "Dijon",
           "Angers", "Nîmes", "Brest", "Tours", "Limoges", "Amiens", "Metz", "Besançon", "Orléans", "Rouen"]
_LAST_NAMES = ["Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois", "Moreau",
               "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier",
               "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau", "Vincent", "Müller", "Faure",
               "André", "Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François", "Legrand"]
_FIRST_NAMES = ["Camille", "Léa", "Manon", "Chloé", "Inès", "Jade", "Louise", "Zoé", "Lucas", "Hugo", "Louis",
                "Gabriel", "Arthur", "Jules", "Raphaël", "Adam", "Noël", "Éloïse", "Anaïs", "Jérôme", "Hélène",
                "Loïc", "Maël", "Gaëlle", "Cédric", "Émilie", "Sébastien", "Françoise", "Agnès", "Benoît"]
_JOBS = ["DRH", "Assistante RH", "Responsable formation", "Comptable", "Gérant", "Chef de projet",
         "Responsable paie", "Directrice administrative", "Chargé de recrutement", None]
