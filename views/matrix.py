"""The habilitation matrix page, rendered from the single source of truth in models.habilitations."""

from __future__ import annotations

from flask_admin import expose

from models.habilitations import FEATURES, MATRIX_COLUMNS, opens

from .access import SecureBaseView


class HabilitationMatrixView(SecureBaseView):
    open_to_managers = True

    @expose("/")
    def index(self):
        rows = [(feature, [opens(h, feature) for h in MATRIX_COLUMNS]) for feature in FEATURES]
        return self.render("admin/habilitations.html", columns=MATRIX_COLUMNS, rows=rows)
