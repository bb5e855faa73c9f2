"""Reproducible, realistic volume data: a portal of 100,000 or a million users (`flask seed volume`)."""


from __future__ import annotations

import itertools
import json
import math
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum import luhn

from models import (
    AuditEvent,
    Company,
    Establishment,
    Grant,
    Habilitation,
    OperationItem,
    User,
    search_key,
    utcnow,
)
from models.accounts import new_session_token

from .bulk_write import insert_rows
from .common import transaction
from .passwords import hash_password
from .volume_history import History

SEED_DATA = Path(__file__).resolve().parent.parent.parent / "seed_data"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SEED_DATA / name).read_text(encoding="utf-8"))


VOLUME_DOMAIN = "volume.example.org"
_MAX_ESTABLISHMENTS = 9_999  # the NIC written here has 4 digits before its check digit


def _valid(prefix: str) -> str:
    return prefix + luhn.calc_check_digit(prefix)


def generate_volume(session: Session, users: int, chunk: int = 50_000) -> dict[str, int]:
    """Insert `users` users with their companies, establishments, grants and history, reproducibly.

    What is drawn and why: README, "Volume data"; the parameters: seed_data/volume.json. The same seed,
    the same chunk size and the same Faker version give the same data. Users and their grants are drawn
    and written `chunk` at a time (a million users' dicts would take gigabytes); their history is kept as
    compact tuples and written in time order at the end. Rows go in by COPY on PostgreSQL, by the
    driver's executemany on SQLite, with explicit ids.
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
        start_user = _first_unused_user_id(session)
        taken = set(session.scalars(select(User.email).where(User.email.like(f"%@{VOLUME_DOMAIN}"))))

        sizes = _establishment_counts(rng, params, users)
        companies, establishments = _companies(rng, fake, sizes, start_company, start_establishment)
        insert_rows(session, Company, companies)
        insert_rows(session, Establishment, establishments)
        names = {c["id"]: c["name"] for c in companies}

        # One hash for every account that has a password: a random password nobody knows (the accounts can
        # be looked at, never logged into), hashed once rather than 850,000 times.
        password_hash = hash_password(secrets.token_urlsafe(32))
        # Ids follow creation dates, as they do in a real table: the oldest account has the smallest id.
        ages = sorted((_account_age(rng, params) for _ in range(users)), reverse=True)
        history = History(session, params, now, establishments, names,
                          lambda rng, fake: _person(rng, fake, params, taken))
        wide_admins: dict[int, int] = {}  # company index -> its company-wide administrators so far
        grant_count = 0
        for first in range(0, users, chunk):
            user_rows, lives, primaries = [], [], []
            for i in range(first, min(users, first + chunk)):
                female = rng.random() < params["female_share"]
                first_name, last_name = _name(rng, fake, params, female)
                active = rng.random() >= params["inactive_share"]
                life = _life(rng, params, now - ages[i], now, active)
                user_rows.append(_user_row(rng, params, start_user + i, female, first_name, last_name,
                                           _unique_email(first_name, last_name, taken), active, life, password_hash))
                lives.append(life)
                primaries.append(rng.randrange(len(establishments)))  # so a company's users follow its size
            insert_rows(session, User, user_rows)
            grant_rows = _grants(rng, params, user_rows, primaries, companies, sizes, establishments, wide_admins)
            insert_rows(session, Grant, grant_rows)
            grant_count += len(grant_rows)
            history.add(rng, fake, user_rows, lives, primaries)
        _advance_sequences(session, (Company, Establishment, User))
        counts = history.write()
        return {"companies": len(companies), "establishments": len(establishments), "users": users, "grants": grant_count,
                **counts}


def _user_row(rng: random.Random, params: dict[str, Any], user_id: int, female: bool, first: str, last: str, email: str,
              active: bool, life: Life, password_hash: str) -> dict[str, Any]:
    steps = [life.created, life.verified, life.password_at, life.last_login]
    return {
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
    }


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


def _person(rng: random.Random, fake: Faker, params: dict[str, Any], taken: set[str]) -> dict[str, Any]:
    """Someone who asked for an account and has none (yet): a name, a free email, a phone, a job."""
    female = rng.random() < params["female_share"]
    first, last = _name(rng, fake, params, female)
    return {"civility": "Mme" if female else "M.", "last_name": last, "first_name": first,
            "email": _unique_email(first, last, taken), "phone": _phone(rng, params), "job_title": rng.choice(_JOBS)}


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
class Life:
    """The dates of one account; each None or after the one before, none after now."""

    created: datetime
    verify_sent: datetime
    verified: datetime | None = None
    password_sent: datetime | None = None
    password_at: datetime | None = None
    last_login: datetime | None = None


def _life(rng: random.Random, params: dict[str, Any], created: datetime, now: datetime, active: bool) -> Life:
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
        return Life(**life)
    password_sent = min(now, verified + timedelta(seconds=rng.randint(5, 120)))
    life.update(verified=verified, password_sent=password_sent)
    password_at = password_sent + _delay(rng, params["set_password_median_minutes"], 47 * 60)
    if goal < 2 or password_at > now:
        return Life(**life)
    life["password_at"] = password_at
    first_login = password_at + _delay(rng, params["first_login_median_minutes"], 30 * 24 * 60)
    if goal < 3 or first_login > now:
        return Life(**life)
    if not active or rng.random() < params["dormant_share"]:
        # Gone quiet (or since deactivated): last seen any time since the first login.
        last_login = first_login + (now - first_login) * rng.random()
    else:
        last_login = max(first_login, now - timedelta(days=rng.expovariate(1 / params["recent_login_mean_days"])))
    return Life(**life, last_login=last_login)


def _delay(rng: random.Random, median_minutes: float, cap_minutes: float) -> timedelta:
    # Log-normal: most people act within minutes or hours of the email, a few days later.
    minutes = rng.lognormvariate(math.log(median_minutes), 1.2)
    return timedelta(minutes=min(cap_minutes, max(0.5, minutes)))


def _grants(rng: random.Random, params: dict[str, Any], users: list[dict[str, Any]], primaries: list[int],
            companies: list[dict[str, Any]], sizes: list[int], establishments: list[dict[str, Any]],
            admins: dict[int, int]) -> list[dict[str, Any]]:
    """Each user's primary establishment (drawn over all establishments, so a company has users in
    proportion to its size), sometimes a second one in the same company; and in each large company its
    first accounts administer every establishment (the widest perimeters a delegated administrator has)."""
    wide = params["company_wide_admins"]
    first_of = [0, *itertools.accumulate(sizes)]  # a company's establishments follow each other in the list
    company_index = {company["id"]: index for index, company in enumerate(companies)}
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


def _first_unused_user_id(session: Session) -> int:
    """The first user id nothing in the database refers to, not merely past the highest user left: the newest
    users deleted, their operation items and audit entries keep their ids (no foreign key), and a seeded account
    given one of them would inherit that history. (Ordinary inserts never reuse an id: SQLite's AUTOINCREMENT,
    PostgreSQL's sequence; an emptied database starts again from 1, so two seeds give the same data.)"""
    used = select(func.max(User.id)).union_all(
        select(func.max(OperationItem.user_id)),
        select(func.max(AuditEvent.target_id)).where(AuditEvent.target_type == "user"),
    ).subquery()
    return (session.scalar(select(func.max(used.c[0]))) or 0) + 1


def _advance_sequences(session: Session, models: tuple[Any, ...]) -> None:
    """Move PostgreSQL's id sequences past the ids inserted explicitly, or the next ordinary insert
    would take an id already used. SQLite's AUTOINCREMENT (users) moves its mark past explicit ids by itself,
    and its other tables pick max(id) + 1."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        session.execute(select(func.setval(sequence, select(func.max(model.id)).scalar_subquery())))


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
