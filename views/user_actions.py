"""The users screen's actions: per row and in bulk, on the selection or on every matching user."""

from __future__ import annotations

from flask import Response, flash, request
from flask_admin.actions import action

from admin_app.filters import paris_datetime, thousands, yes_no
from admin_app.services import users as user_service
from models import User
from models.rules import format_phone

from .base import current_perimeter
from .exports import csv_response


class UserActionsMixin:
    """Each action asks a service; the messages say what was done."""

    def _action_targets(self, ids):
        return self.action_targets(ids, "Sélectionnez au moins un utilisateur.")

    def _run_bulk(self, ids, service, *args):
        targets = self._action_targets(ids)
        if targets is None:
            return None
        return self.run_service(service, targets, *args)

    @action("activate", "Activer")
    def action_activate(self, ids):
        done = self._run_bulk(ids, user_service.set_active, True)
        if done is not None:
            flash(_plural(done, "utilisateur activé", "utilisateurs activés"), "success")

    @action("activate_links", "Activer et envoyer un lien de mot de passe")
    def action_activate_links(self, ids):
        """The guide's "Activer un utilisateur en cas d'absence ou d'oubli de mot de passe": activate, and send
        each one the link their state calls for (validate the address, create or renew the password)."""
        result = self._run_bulk(ids, user_service.activate_and_send_links)
        if result is not None:
            activated, sent = result
            flash(f"{_plural(activated, 'utilisateur activé', 'utilisateurs activés')} ; "
                  f"{_plural(sent, 'lien envoyé', 'liens envoyés')} par email.", "success")

    @action("deactivate", "Désactiver")
    def action_deactivate(self, ids):
        done = self._run_bulk(ids, user_service.set_active, False)
        if done is not None:
            flash(_plural(done, "utilisateur désactivé", "utilisateurs désactivés"), "success")

    @action("invite", "Renvoyer l'invitation")
    def action_invite(self, ids):
        result = self._run_bulk(ids, user_service.resend_invitations)
        if result is not None:
            sent, skipped = result
            message = _plural(sent, "invitation renvoyée", "invitations renvoyées")
            if skipped:
                message += f" ; {skipped} ignoré(s) (mot de passe déjà créé ou compte inactif)"
            flash(message + ".", "success")

    @action("delete", "Supprimer")
    def action_delete(self, ids):
        done = self._run_bulk(ids, user_service.delete_users)
        if done is not None:
            flash(_plural(done, "utilisateur supprimé", "utilisateurs supprimés"), "success")

    @action("export", "Exporter (CSV)")
    def action_export(self, ids):
        if request.form.get("all_matching") == "1":
            # The list's own criteria rather than `id IN (...)`: the rows then come straight off the
            # (last_name, first_name, id) index, in order, without sorting the whole table first.
            return self.csv_response(self.list_criteria(request.args.get("search") or None))
        targets = self._action_targets(ids)
        if targets is None:
            return None
        return self.csv_response([User.id.in_(targets)])

    def csv_response(self, criteria) -> Response:
        """The users as CSV: the list's columns plus email and phone, in the list's order."""
        perimeter = current_perimeter()
        statement = (
            self.get_query()
            .filter(*criteria)
            .with_entities(User.active, User.last_name, User.first_name, User.job_title, perimeter.is_manager_column(),
                           perimeter.primary_establishment_column(), User.last_login_at, User.email, User.phone)
            .order_by(User.last_name, User.first_name, User.id)
            .statement
        )
        header = [self.column_labels[c] for c in self.column_list] + ["Email", "Téléphone"]
        return csv_response(
            "utilisateurs.csv",
            header,
            statement,
            lambda r: (yes_no(r[0]), r[1], r[2], r[3] or "", yes_no(r[4]), r[5] or "", paris_datetime(r[6]), r[7], format_phone(r[8])),
        )




def _plural(count: int, singular: str, plural: str) -> str:
    return f"{thousands(count)} {singular if count == 1 else plural}"
