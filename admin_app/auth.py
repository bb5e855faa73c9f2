"""Login and logout; the pages a person reaches before or outside the admin panel."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired

from .extensions import db, login_manager
from .services import sessions

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
    return url_for("admin.index") if user.is_staff else url_for("auth.profile")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = sessions.authenticate(db.session, form.email.data, form.password.data, request.remote_addr)
        if user is not None:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or home_for(user))
        flash(LOGIN_FAILED, "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("Vous êtes déconnecté.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/account/profile")
@login_required
def profile():
    return render_template("auth/profile.html", user=current_user)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Connectez-vous pour accéder à cette page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(session_id: str):
        return sessions.load_session_user(db.session, session_id)
