"""The users screen's forms and its grant editor (rows posted, rows shown), apart from the view itself."""

from __future__ import annotations

from flask import request
from sqlalchemy import select
from wtforms import EmailField, HiddenField, RadioField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional, ValidationError

from admin_app.authority import boundary_reason, refused_beyond_boundary
from admin_app.current import current_perimeter
from admin_app.extensions import db
from admin_app.inputs import parse_db_id, refuse
from admin_app.services.users import GrantInput
from models import Company, Establishment, Habilitation, InvalidValue, User
from models.rules import clean_email, clean_phone

from .access import SecureForm

# The grant editor's checkboxes, in the guide's order ("Accès Gestionnaire" first, it implies the rest).
EDITOR_HABILITATIONS = [
    Habilitation.MANAGER,
    Habilitation.FUNDING,
    Habilitation.APPRENTICESHIP,
    Habilitation.REPORTING,
    Habilitation.PAYMENTS,
    Habilitation.SENSITIVE_DATA,
    Habilitation.USER_ADMIN,
]
LOOKUP_LIMIT = 20
WRONG_COMPANY = ("Un des établissements envoyés n'appartient pas à l'entreprise choisie : rien n'a été modifié. "
                 "Rechargez la page puis choisissez l'établissement dans la liste de son entreprise.")


def _model_rule(rule):
    """Turn a models.rules cleaner into a WTForms validator with its French message."""

    def validator(form, field):
        if field.data:
            try:
                rule(field.data)
            except InvalidValue as exc:
                raise ValidationError(str(exc)) from None

    return validator


class UserForm(SecureForm):
    civility = RadioField("Civilité", choices=[SelectChoice("M.", "M."), SelectChoice("Mme", "Mme")],
                          validators=[InputRequired("Choisissez la civilité (M. ou Mme).")])
    last_name = StringField("Nom", validators=[InputRequired("Le nom est obligatoire.")])
    first_name = StringField("Prénom", validators=[InputRequired("Le prénom est obligatoire.")])
    email = EmailField("Email", validators=[InputRequired("L'adresse email est obligatoire."), _model_rule(clean_email)])
    phone = TelField("Téléphone", validators=[InputRequired("Le numéro de téléphone est obligatoire."), _model_rule(clean_phone)])
    job_title = StringField("Fonction", validators=[Optional()])


class UserEditForm(UserForm):
    version = HiddenField()


PERSONAL = ("civility", "last_name", "first_name", "email", "phone", "job_title")


class GrantEditorMixin:
    """The grant editor's rows: read from a post, or shown from the stored grants the viewer may see."""

    def single_company(self):
        """When the current user administers one company only, that company (the first step is skipped).

        Two distinct company ids at most are read: a delegated perimeter of 1,500 establishments costs one
        short query, and the establishments themselves come through the type-ahead.
        """
        perimeter = current_perimeter()
        if perimeter.unrestricted:
            return None
        ids = list(db.session.scalars(select(Establishment.company_id).where(perimeter.establishments()).distinct().limit(2)))
        if len(ids) != 1:
            return None
        return db.session.get(Company, ids[0])

    def _posted_grants(self, user: User | None = None) -> list[GrantInput] | None:
        """Read the grant editor's rows from the form; None when the editor was not sent.

        A box the viewer may not toggle is drawn disabled, and browsers do not send disabled boxes: on `user`'s
        stored grants, such a box the post left out keeps its stored value. One the post ticks is passed on as
        sent, so a forged post that gives what the viewer does not hold is the service's to refuse."""
        rows = self._read_posted_grants()
        if rows and user is not None:
            perimeter = current_perimeter()
            stored = {g.establishment_id: g for g in user.grants if perimeter.contains(g.establishment_id)}
            for row in rows:
                if (grant := stored.get(row.establishment_id)) is not None:
                    untouchable = set(Habilitation) - perimeter.grantable(row.establishment_id)
                    row.habilitations |= {h for h in untouchable if getattr(grant, h.value)}
        return rows

    def _read_posted_grants(self) -> list[GrantInput] | None:
        if request.form.get("grants-present") != "1":
            return None
        primary = request.form.get("grants-primary", "")
        rows, companies = [], {}
        for raw in request.form.getlist("grants-establishment"):
            establishment_id = parse_db_id(raw)
            if establishment_id is None:
                refuse()
            if (company := request.form.get(f"grants-{raw}-company")) is not None:
                companies[establishment_id] = parse_db_id(company)
            held = {h for h in Habilitation if request.form.get(f"grants-{raw}-{h.value}")}
            rows.append(GrantInput(establishment_id, is_primary=(raw == primary), habilitations=held))
        self._check_companies(companies)
        return rows

    def _check_companies(self, companies: dict[int, int | None]) -> None:
        """Each establishment must be a site of the company it was picked in (the type-ahead asks within one
        company; a forged or stale post is refused whole). The perimeter is the service's to check."""
        if not companies:
            return
        # Asked of the perimeter's establishments only: "wrong company" must not tell whether an establishment
        # outside it belongs to a company (its id is refused by the service, which says no more).
        actual = dict(db.session.execute(
            select(Establishment.id, Establishment.company_id)
            .where(Establishment.id.in_(list(companies)), current_perimeter().establishments())
        ).all())
        for establishment_id, company_id in companies.items():
            if establishment_id in actual and actual[establishment_id] != company_id:
                refuse(WRONG_COMPANY)

    def _rows_from_post(self, user: User | None = None) -> list[dict]:
        posted = self._posted_grants(user) or []  # a disabled box drawn again as stored, not as unticked
        ids = [row.establishment_id for row in posted]
        # The form drawn again after a refused save shows the posted rows the viewer may see, never a forged
        # id's establishment from outside the perimeter (its name, SIRET and company would leak).
        visible = select(Establishment).where(Establishment.id.in_(ids), current_perimeter().establishments())
        by_id = {e.id: e for e in db.session.scalars(visible)}
        return [
            {"establishment": by_id[row.establishment_id], "primary": row.is_primary, "held": {h.value for h in row.habilitations}}
            for row in posted
            if row.establishment_id in by_id
        ]

    def with_boundary(self, rows: list[dict], user: User | None = None) -> list[dict]:
        """Mark on each row the boxes the viewer may not toggle there (drawn disabled, with the reason), and
        whether removing the row would take away a habilitation the viewer does not hold (asked of the
        perimeter, which the service asks too)."""
        perimeter = current_perimeter()
        stored = {g.establishment_id: g for g in user.grants} if user is not None else {}
        for row in rows:
            grantable = perimeter.grantable(row["establishment"].id)
            locked = set(Habilitation) - grantable
            row["locked"] = {h.value for h in locked}
            row["boundary"] = boundary_reason(locked) if locked else ""
            grant = stored.get(row["establishment"].id)
            row["removable"] = grant is None or not (
                {h for h in Habilitation if getattr(grant, h.value)} - grantable)
        return rows

    def boundary_context(self) -> dict:
        """What the editor needs to draw the boundary: each box's reason, and the locks of a row still to add
        (its establishment is chosen in the browser: the boxes held on no establishment of the perimeter)."""
        locked = set(Habilitation) - current_perimeter().grantable(None)
        return {
            "box_reasons": {h.value: refused_beyond_boundary({h}).reason for h in Habilitation},
            "new_row": {"locked": {h.value for h in locked}, "boundary": boundary_reason(locked) if locked else ""},
        }

    def editor_rows(self, user: User, approval: dict | None = None) -> list[dict]:
        """The rows the grant editor shows: as posted after a refused save, else as stored (+ the request's)."""
        if request.method == "POST" and request.form.get("grants-present") == "1":
            return self._rows_from_post(user)
        rows = [
            {"establishment": g.establishment, "primary": g.is_primary, "held": {h.value for h in Habilitation if getattr(g, h.value)}}
            for g in sorted(current_perimeter().visible_grants(user), key=lambda g: (not g.is_primary, g.establishment.name))
        ]
        wanted = approval["establishment"] if approval else None
        if wanted is not None and all(row["establishment"].id != wanted.id for row in rows):
            rows.append({"establishment": wanted, "primary": not rows, "held": set()})
        return rows

