"""Demo data (the guide's cast) and reproducible, realistic volume data for the benchmark."""

from __future__ import annotations

import itertools
import json
import math
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from faker import Faker
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


VOLUME_DOMAIN = "volume.example.org"
_MAX_ESTABLISHMENTS = 9_999  # the NIC written here has 4 digits before its check digit


def _valid(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


def generate_volume(session: Session, users: int) -> dict[str, int]:
    """Insert `users` users with their companies, establishments, grants and history, reproducibly.

    What is drawn and why: README, "Volume data"; the parameters: seed_data/volume.json. The same seed
    and the same Faker version give the same data. Rows go in by batches (executemany), with explicit ids.
    """
    with transaction(session):
        params = _load("volume.json")
        # Not a secret (B311): reproducible demo data, not security.
        rng = random.Random(params["seed"])  # nosec B311
        fake = Faker(params["locale"])
        fake.seed_instance(params["seed"])
        now = utcnow()
        start_company = (session.scalar(select(func.max(Company.id))) or 0) + 1
        start_establishment = (session.scalar(select(func.max(Establishment.id))) or 0) + 1
        start_user = (session.scalar(select(func.max(User.id))) or 0) + 1
        taken = set(session.scalars(select(User.email).where(User.email.like(f"%@{VOLUME_DOMAIN}"))))

        sizes = _establishment_counts(rng, params, users)
        companies, establishments = _companies(rng, fake, sizes, start_company, start_establishment)
        _insert(session, Company, companies)
        _insert(session, Establishment, establishments)

        # One hash for every account that has a password: a random password nobody knows (the accounts can
        # be looked at, never logged into), hashed once rather than 85,000 times.
        password_hash = hash_password(secrets.token_urlsafe(32))
        # Ids follow creation dates, as they do in a real table: the oldest account has the smallest id.
        ages = sorted((_account_age(rng, params) for _ in range(users)), reverse=True)
        user_rows, lives, primaries = [], [], []
        for i in range(users):
            user_id = start_user + i
            female = rng.random() < params["female_share"]
            first, last = _name(rng, fake, params, female)
            email = _unique_email(first, last, taken)
            active = rng.random() >= params["inactive_share"]
            life = _life(rng, params, now - ages[i], now, active)
            steps = [life.created, life.verified, life.password_at, life.last_login]
            user_rows.append({
                "id": user_id,
                "civility": "Mme" if female else "M.",
                "last_name": last,
                "first_name": first,
                "email": email,
                "phone": _phone(rng, params),
                "job_title": rng.choice(_JOBS),
                "active": active,
                "is_staff": False,
                "email_verified_at": life.verified,
                "password_hash": password_hash if life.password_at else None,
                "last_login_at": life.last_login,
                "created_at": life.created,
                "updated_at": max(step for step in steps if step is not None),
                "version": 1 + (life.verified is not None) + (life.password_at is not None),  # each ORM change bumps it
                "search_text": search_key(last, first),
                "session_token": new_session_token(),
                "link_nonce": new_session_token(),
            })
            lives.append(life)
            primaries.append(rng.randrange(len(establishments)))  # so a company's users follow its size
        _insert(session, User, user_rows)
        grant_rows = _grants(rng, params, user_rows, primaries, companies, sizes, establishments)
        _insert(session, Grant, grant_rows)
        _advance_sequences(session, (Company, Establishment, User))
        names = {c["id"]: c["name"] for c in companies}
        counts = _generate_history(session, rng, fake, params, now, user_rows, lives, primaries, establishments, names, taken)
        return {"companies": len(companies), "establishments": len(establishments), "users": users, "grants": len(grant_rows),
                **counts}


def _establishment_counts(rng: random.Random, params: dict[str, Any], users: int) -> list[int]:
    """Establishments per company: a long tail, as in a training fund's membership. A few national
    networks (1,500 sites at 100,000 users, in proportion to the users below), the others drawn from a
    power law: most have 1 to 5 establishments, some tens, a handful hundreds."""
    spec = params["establishments"]
    scale = users / params["reference_users"]
    n_companies = max(1, users // params["users_per_company"])
    largest = [min(_MAX_ESTABLISHMENTS, max(1, round(size * scale))) for size in spec["largest_at_reference"]][:n_companies]
    cap = min(_MAX_ESTABLISHMENTS, max(5, round(spec["others_max_at_reference"] * scale)))
    weights = [k ** -spec["others_exponent"] for k in range(1, cap + 1)]
    sizes = largest + rng.choices(range(1, cap + 1), weights=weights, k=n_companies - len(largest))
    rng.shuffle(sizes)  # the largest anywhere among the ids, not first
    return sizes


def _companies(rng: random.Random, fake: Faker, sizes: list[int], start_company: int,
               start_establishment: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Companies named the French way (a family name, often after a trade; a legal form) and their establishments,
    spread over real cities as the population is, each with a valid SIREN / SIRET."""
    companies, establishments = [], []
    for index, size in enumerate(sizes):
        company_id = start_company + index
        siren = _valid(f"9{company_id:07d}")
        family, roll = fake.last_name(), rng.random()
        # "Entreprise Durand" (a common form in the trades), "Garage Durand", or the family name alone.
        base = f"Entreprise {family}" if roll < 0.15 else f"{rng.choice(_WORDS)} {family}" if roll < 0.6 else family
        companies.append({"id": company_id, "name": f"{base} {fake.company_suffix()}", "siren": siren})
        seen: dict[str, int] = {}
        for n, (city, first_code, codes) in enumerate(rng.choices(_CITIES, cum_weights=_CITY_WEIGHTS, k=size)):
            code = first_code + rng.randrange(codes)
            place = city
            if codes > 1:  # Paris, Marseille, Lyon: the arrondissement ("Paris 1er", "Paris 15e")
                place = f"{city} {code - first_code + 1}{'er' if code == first_code else 'e'}"
            seen[place] = seen.get(place, 0) + 1
            name = base if size == 1 else f"{base} {place}" + (f" ({seen[place]})" if seen[place] > 1 else "")
            establishments.append({
                "id": start_establishment + len(establishments),
                "company_id": company_id,
                "siren": siren,
                "name": name,
                "siret": _valid(f"{siren}{n + 1:04d}"),
                "postal_code": f"{code:05d}",
                "city": city,
            })
    return companies, establishments


def _account_age(rng: random.Random, params: dict[str, Any]) -> timedelta:
    # The portal grew steadily (a few more new accounts each year than the year before): recent accounts
    # outnumber old ones.
    days = params["portal_age_days"] * (1 - math.sqrt(rng.random()))
    return timedelta(days=max(days, 1 / 1440))


def _name(rng: random.Random, fake: Faker, params: dict[str, Any], female: bool) -> tuple[str, str]:
    """First and last name from Faker's French lists, with compound first names, double-barrelled
    names and particles in realistic shares. Last names upper-cased, as the app writes them."""
    draw_first = fake.first_name_female if female else fake.first_name_male
    first = draw_first()
    if rng.random() < params["compound_first_name_share"]:
        other = draw_first()
        if other != first:
            first = f"{first}-{other}"
    last = fake.last_name()
    roll = rng.random()
    if roll < params["double_last_name_share"]:
        last = f"{last}-{fake.last_name()}"
    elif roll < params["double_last_name_share"] + params["particle_last_name_share"]:
        last = f"{fake.prefix()} {last}"
    return first, last.upper()


def _email_part(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", search_key(name)).strip("-")


def _unique_email(first: str, last: str, taken: set[str]) -> str:
    """first.last@..., then first.last2@... for the next namesake."""
    local = f"{_email_part(first)}.{_email_part(last)}"
    email, n = f"{local}@{VOLUME_DOMAIN}", 1
    while email in taken:
        n += 1
        email = f"{local}{n}@{VOLUME_DOMAIN}"
    taken.add(email)
    return email


def _phone(rng: random.Random, params: dict[str, Any]) -> str:
    prefixes = _MOBILE_PREFIXES if rng.random() < params["mobile_phone_share"] else _LANDLINE_PREFIXES
    return f"+33{rng.choice(prefixes)}{rng.randrange(10_000_000):07d}"


@dataclass(frozen=True)
class _Life:
    """The dates of one account; each None or after the one before, none after now."""

    created: datetime
    verify_sent: datetime
    verified: datetime | None = None
    password_sent: datetime | None = None
    password_at: datetime | None = None
    last_login: datetime | None = None


def _life(rng: random.Random, params: dict[str, Any], created: datetime, now: datetime, active: bool) -> _Life:
    """Created (the verification email sent), email verified, password chosen (from the email sent
    at verification), first login, last login. Who stops where is drawn from the shares of
    volume.json; a step that would fall after now has not happened yet (a recent invitation)."""
    roll = rng.random()
    stops = (params["never_verified_share"], params["verified_without_password_share"], params["password_never_used_share"])
    goal = next((step for step, share in enumerate(itertools.accumulate(stops)) if roll < share), 3)
    verify_sent = min(now, created + timedelta(seconds=rng.randint(5, 120)))
    life = {"created": created, "verify_sent": verify_sent}
    # The links are valid 48 hours: whoever followed one did so within that time.
    verified = verify_sent + _delay(rng, params["verify_median_minutes"], 47 * 60)
    if goal < 1 or verified > now:
        return _Life(**life)
    password_sent = min(now, verified + timedelta(seconds=rng.randint(5, 120)))
    life.update(verified=verified, password_sent=password_sent)
    password_at = password_sent + _delay(rng, params["set_password_median_minutes"], 47 * 60)
    if goal < 2 or password_at > now:
        return _Life(**life)
    life["password_at"] = password_at
    first_login = password_at + _delay(rng, params["first_login_median_minutes"], 30 * 24 * 60)
    if goal < 3 or first_login > now:
        return _Life(**life)
    if not active or rng.random() < params["dormant_share"]:
        # Gone quiet (or since deactivated): last seen any time since the first login.
        last_login = first_login + (now - first_login) * rng.random()
    else:
        last_login = max(first_login, now - timedelta(days=rng.expovariate(1 / params["recent_login_mean_days"])))
    return _Life(**life, last_login=last_login)


def _delay(rng: random.Random, median_minutes: float, cap_minutes: float) -> timedelta:
    # Log-normal: most people act within minutes or hours of the email, a few days later.
    minutes = rng.lognormvariate(math.log(median_minutes), 1.2)
    return timedelta(minutes=min(cap_minutes, max(0.5, minutes)))


def _grants(rng: random.Random, params: dict[str, Any], users: list[dict[str, Any]], primaries: list[int],
            companies: list[dict[str, Any]], sizes: list[int], establishments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each user's primary establishment (drawn over all establishments, so a company has users in
    proportion to its size), sometimes a second one in the same company; and in each large company its
    first accounts administer every establishment (the widest perimeters a delegated administrator has)."""
    wide = params["company_wide_admins"]
    first_of = [0, *itertools.accumulate(sizes)]  # a company's establishments follow each other in the list
    company_index = {company["id"]: index for index, company in enumerate(companies)}
    admins: dict[int, int] = {}
    flags = [h.value for h in Habilitation if h is not Habilitation.MANAGER]
    rows = []
    for user, primary in zip(users, primaries, strict=True):
        company = company_index[establishments[primary]["company_id"]]
        size, first = sizes[company], first_of[company]
        rank = admins.get(company, 0)
        if size >= wide["min_establishments"] and rank < wide["per_company"]:
            admins[company] = rank + 1
            # The first one a Gestionnaire everywhere, the next one Gestion des utilisateurs and reporting.
            habilitations = {flag: flag in ("user_admin", "reporting") for flag in flags}
            for position in range(first, first + size):
                rows.append({"user_id": user["id"], "establishment_id": establishments[position]["id"],
                             "is_primary": position == primary, "manager": rank == 0, **habilitations})
            continue
        chosen = [primary]
        if size > 1 and rng.random() < params["second_grant_share"]:
            other = first + rng.randrange(size - 1)
            chosen.append(other + 1 if other >= primary else other)
        for position, index in enumerate(chosen):
            manager = rng.random() < params["manager_share"]
            row = {"user_id": user["id"], "establishment_id": establishments[index]["id"], "is_primary": position == 0,
                   "manager": manager}
            for flag in flags:
                row[flag] = manager or rng.random() < params["habilitation_share"]
            rows.append(row)
    return rows


def _advance_sequences(session: Session, models: tuple[Any, ...]) -> None:
    """Move PostgreSQL's id sequences past the ids inserted explicitly, or the next ordinary insert
    would take an id already used. SQLite picks max(id) + 1 by itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        session.execute(select(func.setval(sequence, select(func.max(model.id)).scalar_subquery())))


def _insert(session: Session, model: Any, rows: list[dict[str, Any]]) -> None:
    # Core's executemany on the table, not the ORM's bulk insert: that one splits the rows into one
    # statement per run of rows with the same None columns (events in time order alternate them).
    for start in range(0, len(rows), 10_000):
        session.execute(insert(model.__table__), rows[start : start + 10_000])


def _generate_history(session: Session, rng: random.Random, fake: Faker, params: dict[str, Any], now: datetime,
                      users: list[dict[str, Any]], lives: list[_Life], primaries: list[int],
                      establishments: list[dict[str, Any]], company_names: dict[int, str], taken: set[str]) -> dict[str, int]:
    """What those accounts left behind, at the portal's scale: the lists of requests, emails and the
    audit trail are measured on as many rows as a real portal of that size would hold, not on the
    demo's handful (a missing index only shows on volume).

    Per user, at the dates of its life: its creation in the audit trail, the verification email, then
    as far as the user went, the email verified, the password email, the password chosen, the last
    login. A share of the accounts was opened by a request, approved just before; other people's
    requests were refused, or wait (recent ones). Rows are inserted in time order, as they were written.
    """
    staff = session.scalar(select(User).where(User.is_staff.is_(True)).order_by(User.id).limit(1))
    actor_id = staff.id if staff else None
    actor_label = f"{staff.first_name} {staff.last_name} <{staff.email}>" if staff else "Système"
    requests, emails, events = [], [], []
    statuses = ["approved"] * 92 + ["refused"] * 5 + ["pending"] * 3

    def event(at, action, target_type, target_id, target_label, who=None, after=None, ip=None):
        actor = (who["id"], f"{who['last_name']} {who['first_name']} <{who['email']}>") if who else (None, "Système")
        events.append({"created_at": at, "actor_id": actor[0], "actor_label": actor[1], "action": action,
                       "target_type": target_type, "target_id": target_id, "target_label": target_label,
                       "before": None, "after": after, "ip": ip})

    for user, life, primary in zip(users, lives, primaries, strict=True):
        created = life.created
        label = f"{user['last_name']} {user['first_name']} <{user['email']}>"
        if rng.random() < params["request_share"]:
            status = rng.choice(statuses)
            if status == "approved":  # this account's own request, approved when the account was created
                person, establishment = user, establishments[primary]
                requested_at, decided_at = created - timedelta(minutes=rng.randint(10, 5 * 24 * 60)), created
            else:  # someone else's, about the same time: refused within days, or still waiting (recent)
                female = rng.random() < params["female_share"]
                first, last = _name(rng, fake, params, female)
                email = _unique_email(first, last, taken)
                person = {"civility": "Mme" if female else "M.", "last_name": last, "first_name": first, "email": email,
                          "phone": _phone(rng, params), "job_title": rng.choice(_JOBS)}
                establishment = establishments[rng.randrange(len(establishments))]
                if status == "refused":
                    requested_at = created
                    decided_at = min(now, requested_at + timedelta(hours=rng.uniform(1, 72)))
                else:
                    requested_at, decided_at = now - timedelta(days=rng.expovariate(1 / 4)), None
            requests.append({
                "civility": person["civility"], "last_name": person["last_name"], "first_name": person["first_name"],
                "email": person["email"], "phone": person["phone"], "job_title": person["job_title"],
                "company_name": company_names[establishment["company_id"]], "siret": establishment["siret"],
                "kind": RequestKind.OPENING.value, "status": status, "requested_at": requested_at,
                "decided_at": decided_at, "decided_by_id": None if status == "pending" else actor_id,
                "refusal_reason": "Votre entreprise n'est pas adhérente." if status == "refused" else None,
                "user_id": user["id"] if status == "approved" else None,
            })
        events.append({"created_at": created, "actor_id": actor_id, "actor_label": actor_label, "action": "user.create",
                       "target_type": "user", "target_id": user["id"], "target_label": label, "before": None,
                       "after": {"email": user["email"], "active": True}, "ip": "127.0.0.1"})
        sent_emails = [("verify_email", "Validez votre adresse email", created, life.verify_sent)]
        if life.password_sent is not None:
            sent_emails.append(("set_password", "Créez votre mot de passe", life.verified, life.password_sent))
        for kind, subject, written, sent in sent_emails:
            emails.append({"recipient": user["email"], "subject": subject, "kind": kind, "status": "sent",
                           "body_text": f"Bonjour {user['first_name']} {user['last_name']},\n\n{subject} : ouvrez le lien reçu.",
                           "body_html": "", "created_at": written, "next_attempt_at": written, "sent_at": sent, "attempts": 1})
            event(sent, "email.sent", "email", None, f"{subject} → {user['email']}")
        if life.verified is not None:
            event(life.verified, "user.verify_email", "user", user["id"], label, user, {"email": user["email"]})
        if life.password_at is not None:
            event(life.password_at, "user.set_password", "user", user["id"], label, user)
        if life.last_login is not None:
            event(life.last_login, "login.success", "user", user["id"], label, user, ip=f"203.0.113.{rng.randint(1, 254)}")
    requests.sort(key=itemgetter("requested_at"))
    emails.sort(key=itemgetter("created_at"))
    events.sort(key=itemgetter("created_at"))
    _insert(session, AccountRequest, requests)
    _insert(session, OutboundEmail, emails)
    _insert(session, AuditEvent, events)
    return {"requests": len(requests), "emails": len(emails), "audit_events": len(events)}


_WORDS = ["Atelier", "Boulangerie", "Garage", "Cabinet", "Clinique", "Transports", "Hôtel", "Imprimerie",
          "Menuiserie", "Pharmacie", "Librairie", "Laboratoire", "Bureau", "Entrepôt", "Agence", "Studio"]
# Real cities, their first postal code, how many codes they span (arrondissements) and their population
# in thousands: establishments are spread as people are, Paris first.
_CITY_TABLE = [
    ("Paris", 75001, 20, 2100), ("Marseille", 13001, 16, 870), ("Lyon", 69001, 9, 520), ("Toulouse", 31000, 1, 500),
    ("Nice", 6000, 1, 340), ("Nantes", 44000, 1, 320), ("Montpellier", 34000, 1, 300), ("Strasbourg", 67000, 1, 290),
    ("Bordeaux", 33000, 1, 260), ("Lille", 59000, 1, 235), ("Rennes", 35000, 1, 225), ("Toulon", 83000, 1, 180),
    ("Reims", 51100, 1, 180), ("Saint-Étienne", 42000, 1, 175), ("Le Havre", 76600, 1, 165), ("Dijon", 21000, 1, 160),
    ("Grenoble", 38000, 1, 160), ("Angers", 49000, 1, 155), ("Villeurbanne", 69100, 1, 155), ("Nîmes", 30000, 1, 150),
    ("Clermont-Ferrand", 63000, 1, 147), ("Aix-en-Provence", 13090, 1, 145), ("Le Mans", 72000, 1, 145),
    ("Brest", 29200, 1, 140), ("Tours", 37000, 1, 137), ("Amiens", 80000, 1, 134), ("Limoges", 87000, 1, 130),
    ("Annecy", 74000, 1, 130), ("Perpignan", 66000, 1, 120), ("Boulogne-Billancourt", 92100, 1, 120),
    ("Metz", 57000, 1, 118), ("Besançon", 25000, 1, 117), ("Orléans", 45000, 1, 116), ("Rouen", 76000, 1, 114),
    ("Saint-Denis", 93200, 1, 113), ("Argenteuil", 95100, 1, 110), ("Mulhouse", 68100, 1, 108), ("Montreuil", 93100, 1, 110),
    ("Caen", 14000, 1, 106), ("Nancy", 54000, 1, 104), ("Roubaix", 59100, 1, 98), ("Tourcoing", 59200, 1, 98),
    ("Nanterre", 92000, 1, 96), ("Vitry-sur-Seine", 94400, 1, 95), ("Avignon", 84000, 1, 91), ("Poitiers", 86000, 1, 89),
    ("Pau", 64000, 1, 76), ("La Rochelle", 17000, 1, 77), ("Quimper", 29000, 1, 63), ("Chambéry", 73000, 1, 60),
]
_CITIES = [(name, first_code, codes) for name, first_code, codes, _ in _CITY_TABLE]
_CITY_WEIGHTS = list(itertools.accumulate(population for *_, population in _CITY_TABLE))
# French numbers phonenumbers accepts: mobiles 06 / 07, landlines 01, 03, 04, 05 (E.164, as the app stores them).
_MOBILE_PREFIXES = ["60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77", "78", "79"]
_LANDLINE_PREFIXES = [f"1{d}" for d in range(10)] + [f"3{d}" for d in range(10)] + [f"4{d}" for d in range(1, 10)] + \
    [f"5{d}" for d in range(9)]
_JOBS = ["DRH", "Assistante RH", "Responsable formation", "Comptable", "Gérant", "Chef de projet",
         "Responsable paie", "Directrice administrative", "Chargé de recrutement", None]
