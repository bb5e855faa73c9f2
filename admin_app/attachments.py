"""The account holder's side of a "Rattachement": confirming a claim from the mailbox, filing one logged in."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired

from .extensions import db, limiter
from .services import ServiceError, claims, sessions

bp = Blueprint("attachments", __name__)


class ConfirmForm(FlaskForm):
    """Only the CSRF token: confirming is a POST, never a side effect of opening the link."""


@bp.route("/account/confirm-attachment/<token>", methods=["GET", "POST"])
def confirm(token: str):
    account_request = claims.request_of_token(db.session, token, current_app.config["EMAIL_LINK_MAX_AGE"])
    if account_request is None:
        return render_template("auth/bad_link.html",
                               message="Ce lien n'est pas valide, a expiré, ou la demande a déjà été confirmée."), 400
    form = ConfirmForm()
    if form.validate_on_submit():
        if claims.confirm(db.session, account_request):
            return render_template("auth/message.html", title="Demande confirmée",
                                   message="Merci : votre demande de rattachement est transmise aux gestionnaires de "
                                           "l'établissement. Vous recevrez un email dès qu'elle aura été traitée.")
        return render_template("auth/bad_link.html", message="Cette demande ne peut plus être confirmée."), 400
    return render_template("attachments/confirm.html", form=form, request=account_request)


class AttachmentRequestForm(FlaskForm):
    company_name = StringField("Raison sociale", validators=[InputRequired("La raison sociale est obligatoire.")])
    siret = StringField("SIRET de l'établissement", validators=[InputRequired("Le SIRET est obligatoire.")],
                        description="14 chiffres, indiqués par exemple sur les bulletins de paie.")


def _account_key() -> str:
    # Per account, whatever the IP: a logged-in person's requests each notify an establishment's
    # managers (or the staff). Normalised as the login limiter's per-account key.
    email = current_user.email if current_user.is_authenticated else ""
    return "attachment-account:" + sessions.login_email(email)[:254]


@bp.route("/account/attachment-request", methods=["GET", "POST"])
@login_required
@limiter.limit(lambda: current_app.config["ATTACHMENT_REQUEST_LIMIT_PER_ACCOUNT"], key_func=_account_key, methods=["POST"])
@limiter.limit(lambda: current_app.config["ATTACHMENT_REQUEST_LIMIT_PER_IP"], methods=["POST"])
def file_request():
    """A logged-in person asks for one more establishment: no confirmation email needed, it is them."""
    form = AttachmentRequestForm()
    if form.validate_on_submit():
        try:
            claims.file_for_oneself(db.session, current_user._get_current_object(), form.company_name.data,
                                    form.siret.data, request.remote_addr)
        except ServiceError as exc:
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None:
                field.errors = [*list(field.errors), exc.message]
            else:
                flash(exc.message, "error")
        else:
            flash("Votre demande de rattachement est envoyée aux gestionnaires de cet établissement.", "success")
            return redirect(url_for("auth.profile"))
    return render_template("attachments/request.html", form=form)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
