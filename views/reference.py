"""Staff screens for the reference data: companies and establishments."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from sqlalchemy.orm import undefer
from wtforms import StringField
from wtforms.validators import InputRequired, Optional

from admin_app.current import current_actor
from admin_app.extensions import db
from admin_app.inputs import MAX_PAGE, parse_db_id
from admin_app.services import ServiceError, reference
from models import Company, Establishment
from models.rules import format_siret

from .access import SecureModelView
from .listing import ids_to_int
from .messages import plural


class BoundedAjaxLoader(QueryAjaxModelLoader):
    """Flask-Admin's autocomplete, with what its URL and form send kept to what SQL accepts.

    Its lookup reads `offset` and `limit` with int(): -1 or 10**30 went to OFFSET and LIMIT as typed,
    which PostgreSQL refuses (negative) and both databases overflow on (past 64 bits); the posted
    choice went to `session.get` as typed, where PostgreSQL refuses a number past INTEGER.
    """

    def get_one(self, pk):
        found = parse_db_id(pk)
        return None if found is None else super().get_one(found)  # None: "Not a valid choice", in French

    def get_list(self, term, offset=0, limit=20):
        most = self.options.get("page_size", 20)
        offset = offset if isinstance(offset, int) and 0 <= offset <= MAX_PAGE else 0
        limit = limit if isinstance(limit, int) and 1 <= limit <= most else most
        return super().get_list(term or "", offset, limit)


class ReferenceView(SecureModelView):
    """What companies and establishments share: deletion through one service, alone or in bulk."""

    delete_service: Callable[..., bool]  # staticmethod(reference.delete_company), ...

    def remove(self, model):
        return bool(self.run_service(self.delete_service, model))

    # Flask-Admin's own "delete" action sends the ids as strings (PostgreSQL: "integer = character
    # varying", a 500 for any selection) and bypasses the services: replaced, under the same name.
    @action("delete", "Supprimer", "Supprimer les éléments sélectionnés ?")
    def action_delete(self, ids):
        wanted = ids_to_int(ids)  # a forged or impossible id: the French 400 page, nothing deleted
        rows = self.get_query().filter(self.model.id.in_(wanted)).all()
        done, refusals = 0, []
        for row in rows:  # one service call per row; its refusal goes into the one message below
            try:
                done += bool(self.delete_service(db.session, current_actor(), row))
            except ServiceError as exc:
                refusals.append(exc.message)
        (noun, feminine), deleted = self.record_noun(), self.agree("supprimé")
        noun = noun.lower()
        said = plural(done, f"{noun} {deleted}", f"{noun}s {deleted}s") if done else f"{'Aucune' if feminine else 'Aucun'} {noun} {deleted}"
        if refusals:
            more = f" (et {plural(len(refusals) - 3, 'autre refus', 'autres refus')})" if len(refusals) > 3 else ""
            flash(f"{said}. {' '.join(refusals[:3])}{more}", "warning" if done else "error")
        else:
            flash(f"{said}.", "success")


class CompanyView(ReferenceView):
    """Entreprises: searchable by name and SIREN, with their number of users."""

    column_list = ("name", "siren", "establishment_count", "user_count")
    column_labels = {
        "name": "Raison sociale",
        "siren": "SIREN",
        "establishment_count": "Établissements",
        "user_count": "Utilisateurs",
        "establishments": "Établissements",
    }
    column_searchable_list = ("name", "siren")
    column_sortable_list = ("name", "siren", "establishment_count", "user_count")
    column_default_sort = "name"
    column_details_list = ("name", "siren", "establishment_count", "user_count", "establishments")
    form_columns = ("name", "siren")
    form_overrides = {"name": StringField, "siren": StringField}
    form_args = {
        "name": {"label": "Raison sociale", "validators": [InputRequired("La raison sociale est obligatoire.")]},
        "siren": {"label": "SIREN", "validators": [InputRequired("Le SIREN est obligatoire.")], "description": "9 chiffres"},
    }

    def get_query(self):
        return super().get_query().options(undefer(Company.user_count), undefer(Company.establishment_count))

    def save(self, form, model):
        return self.run_service(reference.save_company, model, {"name": form.name.data, "siren": form.siren.data}, form=form)

    delete_service = staticmethod(reference.delete_company)


class EstablishmentView(ReferenceView):
    """Établissements: searchable by name, SIRET, postal code and city, with their number of users."""

    column_list = ("name", "siret", "company", "postal_code", "city", "user_count")
    column_labels = {
        "name": "Nom",
        "siret": "SIRET",
        "company": "Entreprise",
        "company.name": "Entreprise",
        "postal_code": "Code postal",
        "city": "Ville",
        "user_count": "Utilisateurs",
    }
    column_searchable_list = ("name", "siret", "postal_code", "city")
    column_formatters = {"siret": lambda v, c, m, p: format_siret(m.siret)}  # SIREN NIC, as the guide writes it
    column_formatters_detail = column_formatters
    column_sortable_list = ("name", "siret", ("company", "company.name"), "postal_code", "city", "user_count")
    column_default_sort = "name"
    column_details_list = ("name", "siret", "company", "postal_code", "city", "user_count")
    form_columns = ("company", "name", "siret", "postal_code", "city")
    form_overrides = {"name": StringField, "siret": StringField, "postal_code": StringField, "city": StringField}
    form_args = {
        "company": {"label": "Entreprise", "validators": [InputRequired("Choisissez l'entreprise.")]},
        "name": {"label": "Nom", "validators": [InputRequired("Le nom est obligatoire.")]},
        "siret": {"label": "SIRET", "validators": [InputRequired("Le SIRET est obligatoire.")], "description": "14 chiffres : SIREN + NIC"},
        "postal_code": {"label": "Code postal", "validators": [Optional()]},
        "city": {"label": "Ville", "validators": [Optional()]},
    }
    # 2,000 companies: an autocomplete, never a dropdown of the whole table.
    form_ajax_refs = {
        "company": BoundedAjaxLoader(
            "company", db.session, Company, fields=("name", "siren"), order_by="name", page_size=20, placeholder="Rechercher une entreprise"
        )
    }

    def get_query(self):
        return super().get_query().options(undefer(Establishment.user_count))

    def save(self, form, model):
        data = {name: getattr(form, name).data for name in ("company", "name", "siret", "postal_code", "city")}
        return self.run_service(reference.save_establishment, model, data, form=form)

    delete_service = staticmethod(reference.delete_establishment)
