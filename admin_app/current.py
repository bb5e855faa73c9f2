"""Who is acting in the current request, and their perimeter: asked by the views and by the app's own pages
(the name menu, the login's landing page), so it lives below both."""

from __future__ import annotations

from flask import g, request
from flask_login import current_user

from .authority import Perimeter, perimeter_of
from .extensions import db
from .services import Actor


def current_actor() -> Actor:
    return Actor(current_user._get_current_object(), request.remote_addr)


def current_perimeter() -> Perimeter:
    """The current user's perimeter (admin_app.authority), built once per request."""
    if "perimeter" not in g:
        g.perimeter = perimeter_of(db.session, current_actor())
    return g.perimeter
