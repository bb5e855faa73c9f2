"""What a bulk action or an undo did, in French: the users screen's flash, and a job's outcome in the very same
words (views/user_actions.py and views/jobs.py both say it)."""

from __future__ import annotations

from admin_app.services.operations import OperationResult
from admin_app.services.undo import UndoResult
from models import OperationKind
from models.wording import plural, thousands


def done_message(result: OperationResult, participle: str, end: str = ".") -> str:
    """« 13 555 utilisateurs désactivés, 1 453 l'étaient déjà. »"""
    if result.changed:
        text = plural(result.changed, f"utilisateur {participle}", f"utilisateurs {participle}s")
    else:
        text = f"Aucun utilisateur {participle}"
    if result.unchanged:
        already = "l'était" if result.unchanged == 1 else "l'étaient"
        text += f", {thousands(result.unchanged)} {already} déjà"
    return text + end


def result_message(result: OperationResult) -> str:
    """The outcome of an activation, deactivation or activation with links, done at once or by a job."""
    if result.kind is OperationKind.ACTIVATE_LINKS:
        return f"{done_message(result, 'activé', end='')} ; {plural(result.emails, 'lien envoyé', 'liens envoyés')} par email."
    return done_message(result, "activé" if result.kind is OperationKind.ACTIVATE else "désactivé")


def undo_message(result: UndoResult) -> str:
    """« 12 000 utilisateurs rétablis ; 3 modifiés depuis par quelqu'un d'autre, laissés tels quels. »"""
    text = plural(result.restored, "utilisateur rétabli", "utilisateurs rétablis") if result.restored else "Aucun utilisateur rétabli"
    if result.changed_since:
        text += (f" ; {thousands(result.changed_since)} {'modifié' if result.changed_since == 1 else 'modifiés'} "
                 f"depuis par quelqu'un d'autre, {'laissé tel quel' if result.changed_since == 1 else 'laissés tels quels'}")
    if result.out_of_scope:
        text += (f" ; {thousands(result.out_of_scope)} désormais hors de votre périmètre, "
                 f"{'laissé tel quel' if result.out_of_scope == 1 else 'laissés tels quels'}")
    return f"Opération annulée : {text}."
