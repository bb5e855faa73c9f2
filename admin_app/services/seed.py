"""Demo data (the guide's cast); the volume data for the benchmark is made by `volume`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import (
    AccountRequest,
    Company,
    Establishment,
    Grant,
    Habilitation,
    RequestKind,
    User,
    utcnow,
)

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
            # A demo Rattachement is one its holder confirmed: it names their account. Han's address is not proven
            # yet: his shows that such a claim cannot be approved until it is.
            holder_id = session.scalar(select(User.id).where(User.email == r["email"]))
            kind = RequestKind.ATTACHMENT if holder_id is not None else RequestKind.OPENING
            session.add(AccountRequest(**{**r, "requested_at": requested_at}, kind=kind.value, user_id=holder_id))
            added += 1
        if added:
            audit.record(session, SYSTEM, "seed.demo", "database", None, "Données de démonstration", None, {"rows": added})
        return added


# The volume data lives in its own module; `seed.generate_volume` stays the one name the CLI, the
# benchmark and the tests call.
from .volume import VOLUME_DOMAIN, generate_volume  # noqa: E402, F401
