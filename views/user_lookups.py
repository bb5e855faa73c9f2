"""The users screen's lookups: companies and establishments for the filters and the grant editor.

Every lookup is asked of the viewer's perimeter (admin_app.authority): nobody is offered what they cannot
see. A lookup answers at most LOOKUP_LIMIT suggestions, and says how many more there are with a bounded
count (it stops at COUNT_CAP), so a keystroke never counts thousands of rows.
"""

from __future__ import annotations

import re

from flask import request
from flask_admin import expose
from sqlalchemy import case, func, or_, select

from admin_app.current import current_perimeter
from admin_app.extensions import db
from admin_app.inputs import parse_db_id
from models import Company, Establishment
from models.queries import UserFilter, company_siren
from models.wording import plural, thousands

from .user_forms import LOOKUP_LIMIT

# Past this many matches the count stops: "plus de 1 000" says enough, and costs one bounded scan.
COUNT_CAP = 1000
# What a person types is cut here: no name, SIRET or city is longer, and a 10,000-character q costs nothing.
MAX_TERM = 200
_SEPARATORS = re.compile(r"[\s.\-]")


def _digits(term: str) -> str:
    """The term as an identifier (spaces, dots and hyphens removed) when it is one, else ""."""
    digits = _SEPARATORS.sub("", term)
    return digits if digits.isascii() and digits.isdigit() else ""


def _clean(term: str) -> str:
    return " ".join(term[:MAX_TERM].split())


def _bounded_count(query) -> int:
    """How many rows `query` matches, counting no further than COUNT_CAP + 1."""
    inner = query.with_only_columns(query.selected_columns[0]).order_by(None).limit(COUNT_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(inner)) or 0


def _page(query, none_text: str) -> tuple[list, dict]:
    """The first LOOKUP_LIMIT rows of `query`, and what the picker says about the rest."""
    rows = list(db.session.execute(query.limit(LOOKUP_LIMIT + 1)))
    shown = rows[:LOOKUP_LIMIT]
    info: dict = {"more": 0, "more_text": "", "summary": plural(len(shown), "résultat", "résultats") if shown else none_text}
    if len(rows) > LOOKUP_LIMIT:
        total = _bounded_count(query)
        if total > COUNT_CAP:
            info["more"], info["more_text"] = total - LOOKUP_LIMIT, f"Plus de {thousands(COUNT_CAP)} résultats : précisez"
        else:
            info["more"] = total - LOOKUP_LIMIT
            info["more_text"] = f"{plural(info['more'], 'autre résultat', 'autres résultats')} : précisez"
        info["summary"] = f"{LOOKUP_LIMIT} premiers résultats ; {info['more_text'][0].lower()}{info['more_text'][1:]}"
    return shown, info


def company_item(company_id: int, name: str, siren: str, city: str = "", establishments: int = 0) -> dict:
    """A company as the pickers show it: its name, its SIREN beside it, its city and its establishments."""
    detail = " · ".join(part for part in (city, plural(establishments, "établissement", "établissements")) if part)
    return {"id": company_id, "name": name, "siren": siren, "city": city, "establishments": establishments,
            "label": f"{name} – {siren}", "value": siren, "detail": detail}


def establishment_item(e: Establishment) -> dict:
    return {"id": e.id, "company_id": e.company_id, "label": e.label, "value": e.siret}


class UserLookupsMixin:
    """Suggestions asked of the viewer's perimeter: nobody is offered what they cannot see."""

    def company_lookup(self, term: str) -> dict:
        """Companies whose name contains `term` or whose SIREN starts with it; `exact` when the term names
        one company without doubt (a full SIREN, a SIRET of one of its establishments, its exact name)."""
        perimeter = current_perimeter()
        term = _clean(term)
        siren = company_siren(term)
        digits = _digits(term)
        lowered = func.lower(Company.name)
        query = select(Company.id, Company.name, Company.siren).where(perimeter.companies())
        exact_establishment = None
        if siren:
            query = query.where(Company.siren == siren)
            if len(digits) == 14:
                found = db.session.scalar(select(Establishment).where(Establishment.siret == digits, perimeter.establishments()))
                exact_establishment = establishment_item(found) if found else None
        elif digits:
            query = query.where(Company.siren.startswith(digits[:9], autoescape=True))
        elif term:
            query = query.where(lowered.contains(term.lower(), autoescape=True))
        # The exact name first, then the names that start with the term: "Cabinet" finds "Cabinet" on top.
        rank = case((lowered == term.lower(), 0), (lowered.startswith(term.lower(), autoescape=True), 1), else_=2)
        rows, info = _page(query.order_by(rank, Company.name, Company.id), "Aucune entreprise ne correspond")
        results = self._with_establishment_counts(rows)
        exact, exact_by = None, None
        if siren and len(results) == 1:
            exact, exact_by = results[0], "identifier"
        elif term and not digits:
            named = [r for r in results if r["name"].lower() == term.lower()]
            exact, exact_by = (named[0], "name") if len(named) == 1 else (None, None)
        return {"results": results, "exact": exact, "exact_by": exact_by, "exact_establishment": exact_establishment, **info}

    def _with_establishment_counts(self, rows) -> list[dict]:
        """The rows as picker items, each with its visible establishments' count and its first site's city."""
        ids = [r.id for r in rows]
        if not ids:
            return []
        counts = db.session.execute(
            select(Establishment.company_id, func.count(), func.min(Establishment.siret))
            .where(Establishment.company_id.in_(ids), current_perimeter().establishments())
            .group_by(Establishment.company_id)
        ).all()
        first_sites = [siret for _, _, siret in counts]  # a company's lowest SIRET: its head office, as a rule
        cities = dict(db.session.execute(
            select(Establishment.siret, Establishment.city).where(Establishment.siret.in_(first_sites))
        ).all())
        by_company = {company_id: (n, cities.get(siret, "")) for company_id, n, siret in counts}
        return [company_item(r.id, r.name, r.siren, by_company.get(r.id, (0, ""))[1], by_company.get(r.id, (0, ""))[0]) for r in rows]

    def establishment_lookup(self, term: str, company_id: int | None) -> dict:
        """Establishments (of one company when given) whose name, city, SIRET or postal code matches every
        word typed; `exact` for a full SIRET."""
        term = _clean(term)
        digits = _digits(term)
        query = select(Establishment).where(current_perimeter().establishments())
        if company_id is not None:
            query = query.where(Establishment.company_id == company_id)
        if digits:
            query = query.where(or_(Establishment.siret.startswith(digits, autoescape=True),
                                    Establishment.postal_code.startswith(digits, autoescape=True)))
        else:
            for word in term.lower().split():
                query = query.where(or_(func.lower(Establishment.name).contains(word, autoescape=True),
                                        func.lower(Establishment.city).contains(word, autoescape=True),
                                        Establishment.postal_code.startswith(word, autoescape=True)))
        rows, info = _page(query.order_by(Establishment.name, Establishment.id), "Aucun établissement ne correspond")
        results = [establishment_item(row[0]) for row in rows]
        exact = next((r for r in results if len(digits) == 14 and r["value"] == digits), None)
        return {"results": results, "exact": exact, **info}

    def filter_heading(self, user_filter: UserFilter) -> dict | None:
        """What the results' heading says of the company filter: the company by its name, SIREN beside it."""
        if not user_filter.entreprise:
            return None
        siren = company_siren(user_filter.entreprise)
        if not siren:
            return {"text": f"Entreprises dont le nom contient « {user_filter.entreprise} »"}
        found = db.session.execute(
            select(Company.name, Company.siren).where(Company.siren == siren, current_perimeter().companies())
        ).first()
        if found is None:
            return {"text": f"Aucune entreprise de votre périmètre n'a le SIREN {siren}", "siren": siren}
        return {"name": found.name, "siren": found.siren, "label": f"{found.name} – {found.siren}",
                "siren_spaced": f"{siren[:3]} {siren[3:6]} {siren[6:]}"}

    @expose("/lookup/companies")
    def lookup_companies(self):
        return self.company_lookup(request.args.get("q", ""))

    @expose("/lookup/establishments")
    def lookup_establishments(self):
        raw = request.args.get("company")
        company_id = parse_db_id(raw) if raw else None
        if raw and company_id is None:
            return {"results": [], "exact": None, "more": 0, "more_text": "",
                    "summary": "Entreprise inconnue : choisissez-la dans la liste des entreprises."}
        return self.establishment_lookup(request.args.get("q", ""), company_id)
