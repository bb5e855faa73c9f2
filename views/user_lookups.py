"""The users screen's lookups: companies and establishments for the filters and the grant editor."""

from __future__ import annotations

from flask import request
from flask_admin import expose
from sqlalchemy import func, or_, select

from admin_app.extensions import db
from admin_app.inputs import parse_db_id
from models import Company, Establishment

from .base import current_perimeter
from .user_forms import LOOKUP_LIMIT


class UserLookupsMixin:
    """Suggestions asked of the viewer's perimeter: nobody is offered what they cannot see."""

    def company_choices(self, term: str) -> list[dict]:
        term = term.strip()
        query = select(Company.id, Company.name, Company.siren).where(current_perimeter().companies())
        query = query.order_by(Company.name).limit(LOOKUP_LIMIT)
        if term:
            digits = term.replace(" ", "")
            query = query.where(
                or_(func.lower(Company.name).contains(term.lower(), autoescape=True), Company.siren.startswith(digits, autoescape=True))
            )
        return [{"id": r.id, "label": f"{r.name} – {r.siren}", "value": r.siren} for r in db.session.execute(query)]

    def establishment_choices(self, term: str, company_id: int | None) -> list[dict]:
        query = select(Establishment).order_by(Establishment.name).limit(LOOKUP_LIMIT if company_id is None else 500)
        if company_id is not None:
            query = query.where(Establishment.company_id == company_id)
        query = query.where(current_perimeter().establishments())
        term = term.strip()
        if term:
            digits = term.replace(" ", "")
            query = query.where(
                or_(func.lower(Establishment.name).contains(term.lower(), autoescape=True), Establishment.siret.startswith(digits, autoescape=True))
            )
        return [{"id": e.id, "label": e.label, "value": e.siret} for e in db.session.scalars(query)]

    @expose("/lookup/companies")
    def lookup_companies(self):
        return {"results": self.company_choices(request.args.get("q", ""))}

    @expose("/lookup/establishments")
    def lookup_establishments(self):
        company = request.args.get("company", "")
        company_id = parse_db_id(company)
        return {"results": self.establishment_choices(request.args.get("q", ""), company_id)}

