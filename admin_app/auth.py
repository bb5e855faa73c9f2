"""Login and logout; the pages a person reaches before or outside the admin panel."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, RadioField, StringField, TelField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from models.rules import format_phone

from .authority import perimeter_of
from .extensions import db, limiter, login_manager
from .security import refuse_expired_login, start_login_clock
from .services import Actor, ServiceError, accounts, email_change, requests, sessions
from .services.tokens import Purpose, TokenProblem, read_email_change_token, read_token

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Email ou mot de passe incorrect, ou compte inactif."


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Saisissez votre adresse email.")])
    password = PasswordField("Mot de passe", validators=[InputRequired("Saisissez votre mot de passe.")])


def safe_next(target: str | None) -> str | None:
    """Return `target` if it is a path on this site, else None (no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def home_for(user) -> str:
    """Where `user` lands after logging in: staff on the back office, those who administer users (the guide's
    delegated administrators) on "Mes utilisateurs", anyone else on their profile. The perimeter decides."""
    perimeter = perimeter_of(db.session, Actor(user, request.remote_addr))
    if perimeter.unrestricted:
        return url_for("admin.index")
    if perimeter.administers_users:
        return url_for("users.index_view")
    return url_for("auth.profile")


def _login_account_key() -> str:
    # Per account, whether it exists or not: the answer must not tell which. Normalised exactly as
    # authentication looks the account up, or each spelling of one address gets its own counter.
    return "login-account:" + sessions.login_email(request.form.get("email"))[:254]


def _failed_login(response) -> bool:
    return request.method == "POST" and response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], key_func=_login_account_key,
               methods=["POST"], deduct_when=_failed_login)
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_failed_login)
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = sessions.authenticate(db.session, form.email.data, form.password.data, request.remote_addr)
        if user is not None:
            login_user(user)
            start_login_clock()  # the session's absolute lifetime counts from here
            return redirect(safe_next(request.args.get("next")) or home_for(user))
        time.sleep(current_app.config["LOGIN_FAILURE_DELAY"])  # slows down guessing
        flash(LOGIN_FAILED, "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    # Forgetting the cookie here is not enough: a copy of it would still open the session.
    sessions.logout(db.session, current_user._get_current_object(), request.remote_addr)
    logout_user()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


# --- links sent by email ---------------------------------------------------------------------------

TOKEN_MESSAGES = {
    TokenProblem.EXPIRED: "Ce lien a expiré.",
    TokenProblem.USED: "Ce lien a déjà été utilisé, ou un lien plus récent vous a été envoyé.",
    TokenProblem.INVALID: "Ce lien n'est pas valide (il est peut-être incomplet).",
    TokenProblem.INACTIVE: accounts.INACTIVE,
}


def _link_user(purpose: Purpose, token: str):
    return read_token(db.session, current_app.config["SECRET_KEY"], purpose, token, current_app.config["EMAIL_LINK_MAX_AGE"])


def _bad_link(problem: TokenProblem):
    # A deactivated account gets no new link either: offering one would only disappoint.
    return render_template("auth/bad_link.html", message=TOKEN_MESSAGES[problem],
                           offer_new_link=problem is not TokenProblem.INACTIVE), 400


@bp.get("/account/verify/<token>")
def verify_email(token: str):
    user, problem = _link_user(Purpose.VERIFY_EMAIL, token)
    if problem is TokenProblem.USED and user.email_verified_at is not None:
        # Following a verification link twice is harmless: say where things stand.
        return render_template("auth/message.html", title="Adresse email validée",
                               message="Votre adresse email est déjà validée. Si vous n'avez pas reçu l'email pour créer "
                                       "votre mot de passe, demandez un nouveau lien.", show_forgot=True)
    if problem:
        return _bad_link(problem)
    accounts.confirm_email(db.session, user)
    return render_template("auth/message.html", title="Adresse email validée",
                           message="Merci, votre adresse email est validée. Un second email vient de vous être envoyé "
                                   "pour créer votre mot de passe.")


class SetPasswordForm(FlaskForm):
    password = PasswordField("Nouveau mot de passe", validators=[InputRequired("Saisissez un mot de passe.")],
                             description="Au moins 12 caractères ; évitez les mots de passe courants.")
    confirmation = PasswordField("Confirmez le mot de passe", validators=[InputRequired("Saisissez-le une seconde fois.")])


def _show_service_error(form, exc: ServiceError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*list(field.errors), exc.message]
    else:
        flash(exc.message, "error")


@bp.route("/account/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    user, problem = _link_user(Purpose.SET_PASSWORD, token)
    if problem:
        return _bad_link(problem)
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(db.session, user, form.password.data, form.confirmation.data)
        except ServiceError as exc:
            _show_service_error(form, exc)
        else:
            logout_user()
            flash("Votre mot de passe est enregistré. Vous pouvez maintenant vous connecter.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/set_password.html", form=form, user=user)


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Saisissez votre adresse email.")])


@bp.route("/account/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["FORGOT_PASSWORD_LIMIT"], methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_link(db.session, form.email.data, request.remote_addr)
        # The same answer whether or not the address has an account.
        return render_template("auth/message.html", title="Demande enregistrée",
                               message="Si un compte actif correspond à cette adresse, un email vient de lui être envoyé "
                                       "avec un lien pour créer un nouveau mot de passe.")
    return render_template("auth/forgot_password.html", form=form)


# --- the profile ("Gérer son profil") ---------------------------------------------------------------

class ProfileForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("L'adresse email est obligatoire.")])
    current_password = PasswordField("Mot de passe actuel (pour changer d'adresse email)", validators=[Optional()])
    phone = TelField("Téléphone", validators=[InputRequired("Le numéro de téléphone est obligatoire.")])
    job_title = StringField("Fonction", validators=[Optional()])
    notify_requests = BooleanField("Recevoir un email à chaque nouvelle demande de création de compte")


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Mot de passe actuel", validators=[InputRequired("Saisissez votre mot de passe actuel.")])
    new = PasswordField("Nouveau mot de passe", validators=[InputRequired("Saisissez un nouveau mot de passe.")])
    confirmation = PasswordField("Confirmez le nouveau mot de passe", validators=[InputRequired("Saisissez-le une seconde fois.")])


def decides_requests(user) -> bool:
    """Whether the profile offers the request-notification setting: to those who decide requests."""
    return perimeter_of(db.session, Actor(user)).administers_users


@bp.route("/account/profile", methods=["GET", "POST"])
@login_required
def profile():
    user = current_user._get_current_object()
    profile_form = ProfileForm(prefix="profile", obj=None if request.method == "POST" else user)
    password_form = ChangePasswordForm(prefix="password")
    if request.method == "GET":
        profile_form.phone.data = format_phone(user.phone)
    if request.form.get("form") == "profile" and profile_form.validate_on_submit():
        try:
            fields = ["email", "current_password", "phone", "job_title"] + (["notify_requests"] if decides_requests(user) else [])
            asked_email = profile_form.email.data
            changed = accounts.update_profile(db.session, user, {name: getattr(profile_form, name).data for name in fields})
        except ServiceError as exc:
            _show_service_error(profile_form, exc)
        else:
            if changed and asked_email_differs(asked_email, user.email):
                flash(f"Profil enregistré. {email_change.PENDING_NOTICE}", "success")
            else:
                flash("Profil enregistré." if changed else "Aucune modification.", "success")
            return redirect(url_for("auth.profile"))
    if request.form.get("form") == "password" and password_form.validate_on_submit():
        try:
            accounts.change_password(db.session, user, password_form.current.data, password_form.new.data, password_form.confirmation.data)
        except ServiceError as exc:
            _show_service_error(password_form, exc)
        else:
            login_user(user)  # the new password ended every session, this one included: reopen it
            flash("Mot de passe modifié. Vos autres sessions ont été fermées.", "success")
            return redirect(url_for("auth.profile"))
    return render_template("auth/profile.html", user=user, profile_form=profile_form, password_form=password_form,
                           decides_requests=decides_requests(user))


def asked_email_differs(asked: str | None, current: str) -> bool:
    return sessions.login_email(asked) != current


class EmailChangeForm(FlaskForm):
    """Only the CSRF token: a link's change is made by a POST, never by opening it (mail scanners do)."""


def _email_change_page(purpose: Purpose, token: str, act, done):
    """An email-change link's page: its button's POST calls `act(user, old, new)`, then shows `done(old, new)`
    (title, message); a link that no longer applies says why."""
    user, old_email, new_email, problem = read_email_change_token(
        db.session, current_app.config["SECRET_KEY"], purpose, token, current_app.config["EMAIL_LINK_MAX_AGE"])
    if problem:
        return _bad_link(problem)
    form = EmailChangeForm()
    if form.validate_on_submit():
        try:
            act(user, old_email, new_email)
        except ServiceError as exc:
            return render_template("auth/bad_link.html", message=exc.message), 400
        title, message = done(old_email, new_email)
        return render_template("auth/message.html", title=title, message=message)
    return render_template("auth/email_change.html", form=form, cancel=purpose is Purpose.CANCEL_EMAIL_CHANGE,
                           new_email=new_email)


@bp.route("/account/confirm-new-email/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    return _email_change_page(
        Purpose.CONFIRM_EMAIL_CHANGE, token,
        lambda user, old, new: email_change.confirm(db.session, user, old, new),
        lambda old, new: ("Nouvelle adresse confirmée",
                          f"C'est fait : {new} est désormais l'adresse de votre compte. Utilisez-la pour vous connecter."))


def _cancel(user, old_email: str, new_email: str) -> None:
    email_change.cancel(db.session, user, old_email, new_email, request.remote_addr)
    logout_user()  # this browser's session too, if it had one


@bp.route("/account/cancel-email-change/<token>", methods=["GET", "POST"])
def cancel_email_change(token: str):
    return _email_change_page(
        Purpose.CANCEL_EMAIL_CHANGE, token, _cancel,
        lambda old, new: ("Changement annulé",
                          "Le changement d'adresse est annulé et toutes les sessions ouvertes sur votre compte sont "
                          f"fermées. Un lien pour choisir un nouveau mot de passe vient d'être envoyé à {old}."))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_id: str):
        if refuse_expired_login(app):  # past its absolute lifetime, whatever its activity
            return None
        return sessions.load_session_user(db.session, session_id)


# --- the public account request form ------------------------------------------------------------------

class AccountRequestForm(FlaskForm):
    civility = RadioField("Civilité", choices=[SelectChoice("M.", "M."), SelectChoice("Mme", "Mme")],
                          validators=[InputRequired("Choisissez la civilité (M. ou Mme).")])
    last_name = StringField("Nom", validators=[InputRequired("Le nom est obligatoire.")])
    first_name = StringField("Prénom", validators=[InputRequired("Le prénom est obligatoire.")])
    email = EmailField("Email professionnel", validators=[InputRequired("L'adresse email est obligatoire.")])
    phone = TelField("Téléphone", validators=[InputRequired("Le numéro de téléphone est obligatoire.")])
    job_title = StringField("Fonction", validators=[Optional()])
    company_name = StringField("Raison sociale", validators=[InputRequired("La raison sociale est obligatoire.")])
    siret = StringField("SIRET de l'établissement", validators=[InputRequired("Le SIRET est obligatoire.")],
                        description="14 chiffres, indiqués par exemple sur les bulletins de paie.")


@bp.route("/account/request", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["ACCOUNT_REQUEST_LIMIT"], methods=["POST"])
def account_request():
    form = AccountRequestForm()
    if form.validate_on_submit():
        try:
            requests.submit_request(db.session, {name: getattr(form, name).data for name in form.data if name != "csrf_token"},
                                    request.remote_addr)
        except ServiceError as exc:
            _show_service_error(form, exc)
        else:
            # The same answer, byte for byte, whether the email has no account, a client's or a staff one, or
            # already has a request waiting (then nothing new is filed or sent: services.requests.submit_request).
            return render_template("auth/message.html", title="Demande envoyée",
                                   message="Votre demande a bien été envoyée. Vous recevrez un email dès qu'elle aura été "
                                           "traitée.")
    return render_template("auth/account_request.html", form=form)
