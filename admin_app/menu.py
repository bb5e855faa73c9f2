"""The frame of every page: the name menu of the top bar ("Cliquez sur votre nom"), the same on back-office
and public pages, and the site's icon.

Which entries a person gets is asked of the authority model (the request's perimeter): "Mes
utilisateurs" for whoever administers users, the back office's screens for staff. Nothing here
decides who may do what.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g, request, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from .current import current_perimeter
from .extensions import db


@dataclass(frozen=True)
class MenuEntry:
    label: str
    url: str

    @property
    def current(self) -> bool:
        return request.path == self.url


@dataclass(frozen=True)
class UserMenu:
    name: str
    profile: MenuEntry
    users: MenuEntry | None  # "Mes utilisateurs", for whoever administers users
    back_office: tuple[MenuEntry, ...]  # the admin menu's screens, for staff


def _back_office_entries(skip: set[str]) -> tuple[MenuEntry, ...]:
    """The admin menu bar's screens, flattened, in its order: the menu follows the admin, never a copy of it."""
    admins = current_app.extensions.get("admin") or []
    entries = []
    for admin in admins[:1]:
        for item in admin.menu():
            for leaf in item.get_children() if item.is_category() else [item]:
                url = leaf.get_url()
                if url and url not in skip and leaf.is_visible() and leaf.is_accessible():
                    entries.append(MenuEntry(leaf.name, url))
    return tuple(entries)


def user_menu() -> UserMenu | None:
    """The logged-in person's menu (None when nobody is), built once per request and only when shown."""
    if not current_user.is_authenticated:
        return None
    if "user_menu" in g:
        return g.user_menu
    try:
        perimeter = current_perimeter()
    except SQLAlchemyError:
        # The 500 page may be drawn after a database failure: it must still render, with the safe entries.
        db.session.rollback()
        perimeter = None
    users = None
    back_office: tuple[MenuEntry, ...] = ()
    if perimeter is not None and perimeter.administers_users:
        users = MenuEntry("Mes utilisateurs", url_for("users.index_view"))
    if perimeter is not None and perimeter.unrestricted:
        back_office = _back_office_entries(skip={users.url} if users else set())
    name = f"{current_user.first_name} {current_user.last_name}".strip() or current_user.email
    g.user_menu = UserMenu(name, MenuEntry("Gérer son profil", url_for("auth.profile")), users, back_office)
    return g.user_menu


def init_app(app: Flask) -> None:
    # A function, not its result: pages that never show the menu (emails, anonymous pages) cost nothing.
    app.context_processor(lambda: {"user_menu": user_menu})

    # /favicon.ico, asked whatever the pages name (bookmarks, crawlers, older browsers): one more path of
    # the static endpoint, so it is served like any static file (cached, outside the session's idle clock).
    app.add_url_rule("/favicon.ico", endpoint="static", defaults={"filename": "favicon.ico"})
