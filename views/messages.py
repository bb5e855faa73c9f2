"""The French words the views share: counts, lists of names, record names, and what replaces Flask-Admin's
own messages (its generic outcomes, said once naming their subject, and field messages its French catalogue
lacks)."""

from __future__ import annotations

from typing import Any

from flask import flash, session
from flask_admin.babel import gettext as admin_gettext
from flask_admin.babel import ngettext as admin_ngettext

from admin_app.filters import thousands


def plural(count: int, singular: str, plural_form: str) -> str:
    """"1 demande refusée", "13\u202f555 demandes refusées": the number the French way, the words agreeing with it."""
    return f"{thousands(count)} {singular if count == 1 else plural_form}"


def name_list(names: list[str], shown: int = 5) -> str:
    """Names for a message, the first few only: a bulk action on 5,000 rows names five of them."""
    listed = ", ".join(names[:shown])
    return listed if len(names) <= shown else f"{listed} et {plural(len(names) - shown, 'autre', 'autres')}"


UNKNOWN_ACTION = "Action inconnue : rien n'a été modifié."
# The screen word of each kind of record (DESIGN.md's glossary) and whether French makes it feminine, for
# the messages that name a record: "Entreprise « X » enregistrée", "Utilisateur « NOM Prénom » supprimé".
RECORD_NOUNS = {"User": ("Utilisateur", False), "Company": ("Entreprise", True), "Establishment": ("Établissement", False),
                "AccountRequest": ("Demande", True), "OutboundEmail": ("Email", False), "AuditEvent": ("Évènement", False)}
# Flask-Admin's create, edit and delete views flash a generic message of their own, after ours ("L'objet a
# bien été créé." under "Utilisateur X créé"), some missing from its French catalogue ("Failed to create
# record."), each with what it reports. SecureModelView drops them and says the outcome once, with its subject.
FLASK_ADMIN_OUTCOMES = {
    "Record was successfully created.": "done",
    "Record was successfully saved.": "done",
    "Record was successfully deleted.": "done",
    "Failed to create record.": "not_created",
    "Failed to save record.": "not_saved",
    "Failed to delete record. %(error)s": "not_deleted",
}


def flask_admin_outcome(message: str) -> str | None:
    """What a flashed message reports when Flask-Admin flashed it on its own (in English or French), else None."""
    deleted = admin_ngettext("Record was successfully deleted.", "%(count)s records were successfully deleted.", 1, count=1)
    for msgid, outcome in [*FLASK_ADMIN_OUTCOMES.items(), (deleted, "done")]:
        for text in (msgid, admin_gettext(msgid)):
            if message.startswith(text.split("%(")[0]):  # the text up to its first variable
                return outcome
    return None


def waiting_messages() -> int:
    """How many messages wait to be shown (Flask keeps them in the session until a page shows them)."""
    return len(session.get("_flashes") or ())


class FieldMessages:
    """WTForms' French catalogue, plus the messages Flask-Admin's fields ask it for that it lacks
    (Flask-Admin writes "Not a valid choice" where WTForms has "Not a valid choice.")."""

    FLASK_ADMIN = {"Not a valid choice": "Choix non valide : choisissez dans la liste.",
                   "Invalid Choice: could not coerce": "Choix non valide : choisissez dans la liste."}

    def __init__(self, translations: Any) -> None:
        self.translations = translations

    def gettext(self, string: str) -> str:
        if string in self.FLASK_ADMIN:
            return self.FLASK_ADMIN[string]
        return string if self.translations is None else self.translations.gettext(string)

    def ngettext(self, singular: str, plural_form: str, n: int) -> str:
        if self.translations is None:
            return singular if n == 1 else plural_form
        return self.translations.ngettext(singular, plural_form, n)


class OutcomeMessages:
    """One message per outcome of a model view, naming its subject; Flask-Admin's own generic ones dropped."""

    model: Any  # the view's model class, set by Flask-Admin's ModelView

    def record_noun(self) -> tuple[str, bool]:
        return RECORD_NOUNS.get(self.model.__name__, ("Élément", False))

    def agree(self, participle: str) -> str:
        """`participle` agreeing with this view's record noun: "créé", "créée"."""
        return participle + ("e" if self.record_noun()[1] else "")

    def record_subject(self, model: Any) -> str:
        """How a message names one record: "Établissement « Temple JEDI »", "Utilisateur « SKYWALKER Luke »"."""
        return f"{self.record_noun()[0]} « {getattr(model, 'name', None) or model} »"

    def saved_message(self, model: Any, created: bool) -> str:
        return f"{self.record_subject(model)} {self.agree('créé' if created else 'enregistré')}."

    def refused_form_message(self, model: Any | None) -> str:
        """The message of a form sent back with errors on its fields (nothing was saved)."""
        if model is None:
            return f"{self.record_noun()[0]} non {self.agree('créé')} : corrigez les champs signalés."
        return f"{self.record_subject(model)} non {self.agree('enregistré')} : corrigez les champs signalés."

    def say_outcome_once(self, model: Any | None = None) -> None:
        """Drop Flask-Admin's own outcome messages; where one reported a refused form, say it in French.

        Called before a page is drawn (the messages are read then) and after a view redirects.
        """
        waiting = session.get("_flashes") or []
        outcomes = [flask_admin_outcome(str(message)) for _category, message in waiting]
        if not any(outcomes):
            return
        session["_flashes"] = [message for message, outcome in zip(waiting, outcomes, strict=True) if outcome is None]
        if "not_created" in outcomes:
            flash(self.refused_form_message(None), "error")
        elif "not_saved" in outcomes:
            flash(self.refused_form_message(model), "error")
        elif "not_deleted" in outcomes:  # the delete form came without the record's id
            flash("Rien n'a été supprimé : aucun élément désigné.", "error")
