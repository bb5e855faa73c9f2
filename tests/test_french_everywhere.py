"""French everywhere, once: no English word on any page a person reads, one message per outcome.

Flask-Admin brings its own words (buttons, pager, page sizes, confirmations) and its own flash
messages ("Record was successfully created.", "Failed to create record."); WTForms brings its
validation messages. The sweep renders every admin page, every form error and the messages of the
main actions, as staff and as a client manager, and looks for English words in what is visible.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from models import AccountRequest, Company, Establishment, OutboundEmail, RequestStatus, User

from .demo import LUKE
from .http import csrf_token, login

# English words Flask-Admin, WTForms or Werkzeug would show, matched as whole words and case-sensitively
# ("Record" and "record"). "Actions", "Action", "Type", "Date" and "Email" are French too.
ENGLISH = [
    "Failed", "Record", "record", "records", "Save", "Cancel", "item", "items", "Please", "successfully",
    "Delete", "Edit", "Create", "List", "Add", "Filter", "Filters", "Search", "Are you sure", "Submit", "Close",
    "Next", "Previous", "Yes", "No", "Apply", "Reset", "Export", "View", "Details", "Home", "selected", "Select",
    "None", "This field", "required", "Invalid", "Not a valid", "Permission denied", "There are no", "Toggle",
    "with", "the", "not", "and", "is", "are", "field", "must", "between", "equals", "contains",
]
_ENGLISH = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in ENGLISH) + r")\b")


class VisibleText(HTMLParser):
    """The text a person reads: element text, without tags, scripts or styles, and of the attribute
    values only those shown or read out (a button's label, a tooltip, a placeholder, a confirmation):
    class names, URLs and field names are not words on screen."""

    HIDDEN = {"script", "style", "template"}
    READ = {"title", "placeholder", "alt", "data-confirm"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in self.HIDDEN
        values = dict(attrs)
        self.parts.extend(v for k, v in attrs if v and k in self.READ)
        if tag == "input" and values.get("type") in ("submit", "button", "reset") and values.get("value"):
            self.parts.append(values["value"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.hidden -= tag in self.HIDDEN

    def handle_endtag(self, tag):
        self.hidden -= tag in self.HIDDEN and self.hidden > 0

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def english_in(html: str) -> list[str]:
    """Each English word found, with a little of the text around it (for the failure message)."""
    text = visible_text(html)
    return [text[max(0, m.start() - 40):m.end() + 40] for m in _ENGLISH.finditer(text)]


def assert_french(response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"
    if "html" not in (response.content_type or ""):
        return
    found = english_in(response.get_data(as_text=True))
    assert not found, f"English on {what}: {found}"


_ALERT = re.compile(r'<div class="alert alert-(\w+)[^"]*"[^>]*>(.*?)</div>', re.S)


class ANY_WITH(str):  # noqa: N801 - reads as a value in the assertions: ("danger", ANY_WITH("non créé"))
    """Equal to any text that contains it."""

    def __eq__(self, other):
        return isinstance(other, str) and str(self) in other

    __hash__ = str.__hash__


def flashes(html: str) -> list[tuple[str, str]]:
    """The flash messages of a page, as (category, visible text)."""
    return [(kind, visible_text(body).replace("×", "").strip()) for kind, body in _ALERT.findall(html)]


def test_the_sweep_sees_english_in_text_but_not_in_attributes_or_scripts():
    assert english_in('<p class="Save">Enregistrer</p><script>var Delete = 1;</script><input value="Cancel">') == []
    assert english_in("<button>Save</button>")
    assert english_in('<input type="submit" value="Save">') and english_in('<a title="Edit record">')
    assert english_in("<p>Record was successfully created.</p>")
    assert not english_in("<p>Éditer les Recordings</p>")  # whole words only


# --- every page, as staff and as the client manager Luke -------------------------------------------

@pytest.fixture
def records(demo, db):
    """One real record of each view, inside Luke's perimeter where the view is open to him."""
    temple = db.session.scalar(select(Establishment).where(Establishment.siret == "11138540700015"))
    request = AccountRequest(civility="Mme", last_name="Tano", first_name="Ahsoka", email="ahsoka.tano@example.org",
                             phone="0611223344", job_title="Padawan", company_name="Temple JEDI", siret=temple.siret,
                             kind="opening", status=RequestStatus.PENDING.value)
    email = OutboundEmail(recipient="obi-wan.kenobi@example.org", kind="verify_email", subject="Validez votre adresse",
                          body_text="Bonjour", body_html="<p>Bonjour</p>", status="failed", attempts=3,
                          last_error="Connexion refusée")
    db.session.add_all([request, email])
    db.session.commit()
    return {
        "users": db.session.scalar(select(User.id).where(User.email == "obi-wan.kenobi@example.org")),
        "account_requests": request.id,
        "companies": temple.company_id,
        "establishments": temple.id,
        "emails": email.id,
        "audit": None,
    }


@pytest.fixture
def luke(app, demo):
    client = app.test_client()
    assert login(client, *LUKE).status_code == 302
    return client


def admin_pages(app, records) -> list[str]:
    """Every GET page of the admin views, with a real record wherever a page takes one."""
    urls = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or not rule.rule.startswith("/admin/") or "static" in rule.endpoint:
            continue
        view = rule.endpoint.split(".")[0]
        record = records.get(view)
        path = re.sub(r"<[^>]+>", str(record or records["account_requests"]) if "request_id" in rule.rule else "csv", rule.rule)
        urls.append(path)
        if record is not None and rule.endpoint.endswith(("edit_view", "details_view")):
            urls.append(f"{path}?id={record}")
    urls.append(f"/admin/account-requests/refuse/?ids={records['account_requests']}")
    urls.append("/admin/users/?page_size=50&search=zzz")  # an empty list
    return urls


def test_every_admin_page_is_in_french_for_staff(app, staff_client, records):
    for url in admin_pages(app, records):
        assert_french(staff_client.get(url, follow_redirects=True), url)


def test_every_admin_page_is_in_french_for_a_client_manager(app, luke, records):
    for url in admin_pages(app, records):
        response = luke.get(url, follow_redirects=True)
        assert_french(response, url)


def test_the_public_and_account_pages_are_in_french(client, staff_client, records):
    for url in ("/account/profile", "/admin/"):
        assert_french(staff_client.get(url), url)
    fresh = staff_client.application.test_client()
    for url in ("/login", "/account/request", "/account/forgot-password", "/account/verify/x", "/account/set-password/x"):
        assert_french(fresh.get(url, follow_redirects=True), url)


# --- every form sent back with errors: French, and (admin forms) one message saying nothing was saved -

def post(client, url: str, data: dict, token_from: str | None = None):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, token_from or url)}, follow_redirects=True)


BAD_PERSON = {"civility": "Madame", "last_name": "", "first_name": "", "email": "pas-une-adresse", "phone": "12"}


def admin_forms(records) -> list[tuple[str, dict, str]]:
    """Each admin form, sent empty and with invalid values, and what its one message must say."""
    user, company, establishment = records["users"], records["companies"], records["establishments"]
    return [
        ("/admin/users/new/", {}, "Utilisateur non créé : corrigez les champs signalés."),
        ("/admin/users/new/", BAD_PERSON, "Utilisateur non créé"),
        (f"/admin/users/edit/?id={user}", {}, "Utilisateur « KENOBI Obi-Wan » non enregistré"),
        (f"/admin/users/edit/?id={user}", {**BAD_PERSON, "version": "x"}, "Utilisateur « KENOBI Obi-Wan » non enregistré"),
        ("/admin/companies/new/", {}, "Entreprise non créée"),
        ("/admin/companies/new/", {"name": "Rebelles", "siren": "123"}, "Le SIREN doit comporter 9 chiffres."),
        (f"/admin/companies/edit/?id={company}", {}, "Entreprise « Temple JEDI » non enregistrée"),
        (f"/admin/companies/edit/?id={company}", {"name": "X", "siren": "abc"}, "Le SIREN doit comporter 9 chiffres."),
        ("/admin/establishments/new/", {}, "Établissement non créé"),
        ("/admin/establishments/new/", {"company": "999999", "name": "Base", "siret": "1"}, "Établissement non créé"),
        (f"/admin/establishments/edit/?id={establishment}", {}, "Établissement « Temple JEDI » non enregistré"),
        (f"/admin/establishments/edit/?id={establishment}", {"company": "abc", "name": "Base", "siret": "11138540700099"},
         "Établissement « Temple JEDI » non enregistré"),
    ]


def test_every_admin_form_with_errors_is_french_with_one_message_naming_what_was_not_saved(staff_client, records):
    for url, data, expected in admin_forms(records):
        response = post(staff_client, url, data)
        assert_french(response, f"POST {url} {data}")
        assert flashes(response.get_data(as_text=True)) == [("danger", ANY_WITH(expected))], (url, data)


def test_the_users_forms_with_errors_are_french_for_a_client_manager(luke, records):
    for url, data, expected in admin_forms(records)[:4]:
        response = post(luke, url, data)
        assert_french(response, f"POST {url} {data}")
        assert flashes(response.get_data(as_text=True)) == [("danger", ANY_WITH(expected))], (url, data)


def test_the_refusal_form_with_errors_is_french_with_one_message(staff_client, records):
    url = f"/admin/account-requests/refuse/?ids={records['account_requests']}"
    for data in ({}, {"reason": "n_importe_quoi"}, {"reason": "other", "details": ""}):
        response = post(staff_client, url, data)
        assert_french(response, f"POST {url} {data}")
        said = flashes(response.get_data(as_text=True))
        assert len(said) == 1 and said[0][0] == "danger" and "refus" in said[0][1].lower(), (data, said)


def test_the_public_forms_with_errors_are_french(app, staff_client, demo):
    fresh = app.test_client()
    for url, data in [
        ("/login", {}), ("/login", {"email": "pas-une-adresse", "password": "x"}),
        ("/account/request", {}), ("/account/request", {**BAD_PERSON, "company_name": "", "siret": "123"}),
        ("/account/forgot-password", {}), ("/account/forgot-password", {"email": "pas-une-adresse"}),
    ]:
        response = post(fresh, url, data)
        assert_french(response, f"POST {url} {data}")
        assert len(flashes(response.get_data(as_text=True))) <= 1, (url, data)
    for data in (
        {"form": "profile"}, {"form": "profile", "profile-email": "pas-une-adresse", "profile-phone": "12"},
        {"form": "password"}, {"form": "password", "password-current": "faux", "password-new": "court",
                               "password-confirmation": "autre"},
    ):
        response = post(staff_client, "/account/profile", data)
        assert_french(response, f"POST /account/profile {data}")
        assert len(flashes(response.get_data(as_text=True))) <= 1, data


# --- the main actions: one French message each, naming what it did ----------------------------------

def one_message(response, kind: str, *subject: str) -> str:
    """The page is French and shows exactly one message, of `kind`, containing each of `subject`."""
    assert_french(response, response.request.path)
    said = flashes(response.get_data(as_text=True))
    assert [k for k, _ in said] == [kind], said
    for part in subject:
        assert part in said[0][1], (part, said)
    return said[0][1]


def bulk(client, view: str, action: str, ids=(), all_matching=False, query=""):
    url = f"/admin/{view}/"
    data = {"action": action, "url": url, "rowid": [str(i) for i in ids]}
    if all_matching:
        data["all_matching"] = "1"
    return post(client, f"{url}action/{query}", data, token_from=url)


def id_of(db, model, **where):
    return db.session.scalar(select(model.id).filter_by(**where))


def test_creating_and_editing_say_it_once_with_the_subject(staff_client, db, records):
    person = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "ahsoka@example.org", "phone": "0611223344"}
    one_message(post(staff_client, "/admin/users/new/", person), "success", "Utilisateur TANO Ahsoka créé")
    obiwan = db.session.get(User, records["users"])
    edited = {**person, "email": obiwan.email, "last_name": "Kenobi", "first_name": "Ben", "version": str(obiwan.version)}
    one_message(post(staff_client, f"/admin/users/edit/?id={obiwan.id}", edited), "success", "« KENOBI Ben »", "enregistré")

    one_message(post(staff_client, "/admin/companies/new/", {"name": "Alliance Rebelle", "siren": "732829320"}), "success",
                "Entreprise « Alliance Rebelle » créée.")
    company = id_of(db, Company, siren="732829320")
    one_message(post(staff_client, f"/admin/companies/edit/?id={company}", {"name": "Alliance", "siren": "732829320"}),
                "success", "Entreprise « Alliance » enregistrée.")
    echo = {"company": str(company), "name": "Base Echo", "siret": "73282932000017", "postal_code": "99040", "city": "Hoth"}
    one_message(post(staff_client, "/admin/establishments/new/", echo), "success", "Établissement « Base Echo » créé.")
    base = id_of(db, Establishment, siret="73282932000017")
    one_message(post(staff_client, f"/admin/establishments/edit/?id={base}", {**echo, "name": "Echo"}), "success",
                "Établissement « Echo » enregistré.")

    # Deleting one record from its row: done, or refused with the reason.
    one_message(post(staff_client, "/admin/establishments/delete/", {"id": str(base)}, "/admin/establishments/"), "success",
                "Établissement « Echo » supprimé.")
    one_message(post(staff_client, "/admin/companies/delete/", {"id": str(records["companies"])}, "/admin/companies/"),
                "danger", "l'entreprise « Temple JEDI »", "elle a encore des établissements")
    one_message(post(staff_client, "/admin/companies/delete/", {"id": str(company)}, "/admin/companies/"), "success",
                "Entreprise « Alliance » supprimée.")
    tano = id_of(db, User, email="ahsoka@example.org")
    one_message(post(staff_client, "/admin/users/delete/", {"id": str(tano)}, "/admin/users/"), "success",
                "Utilisateur « TANO Ahsoka » supprimé.")


def test_each_bulk_action_says_it_once_with_how_many(staff_client, db, records):
    people = [id_of(db, User, email=e) for e in ("obi-wan.kenobi@example.org", "han.solo@example.org", "lando.calrissian@example.org")]
    one_message(bulk(staff_client, "users", "deactivate", people), "success", "3 utilisateurs désactivés")
    one_message(bulk(staff_client, "users", "activate", people[:1]), "success", "1 utilisateur activé")
    one_message(bulk(staff_client, "users", "invite", people), "success", "invitation")
    one_message(bulk(staff_client, "users", "deactivate", all_matching=True), "danger", "vous-même")  # staff among them
    row = post(staff_client, "/admin/users/row-action/", {"row_action": f"deactivate:{people[0]}", "url": "/admin/users/"},
               "/admin/users/")
    one_message(row, "success", "1 utilisateur désactivé")
    one_message(bulk(staff_client, "users", "delete", people[1:]), "success", "2 utilisateurs supprimés")
    one_message(bulk(staff_client, "users", "no-such-action", people), "danger", "Action inconnue")
    one_message(bulk(staff_client, "users", "activate"), "danger", "Sélectionnez au moins un utilisateur.")

    one_message(bulk(staff_client, "emails", "retry", [records["emails"]]), "success", "1 email remis dans la file d'envoi.")
    vide = Establishment(company_id=records["companies"], name="Vide", siret="11138540700031")
    db.session.add(vide)
    db.session.commit()
    one_message(bulk(staff_client, "establishments", "delete", [records["establishments"], vide.id]), "warning",
                "1 établissement supprimé.", "Impossible de supprimer l'établissement « Temple JEDI »")
    one_message(bulk(staff_client, "companies", "delete", [records["companies"]]), "danger",
                "Aucune entreprise supprimée.", "l'entreprise « Temple JEDI »")


def test_a_bulk_deactivation_of_every_matching_user_says_it_once(luke):
    # "Sélectionner les N résultats" of a filtered list, as the client manager.
    response = bulk(luke, "users", "deactivate", all_matching=True, query="?etablissement=Temple&nom=kenobi")
    one_message(response, "success", "1 utilisateur désactivé")


def test_approving_and_refusing_requests_say_it_once_with_whom(staff_client, db, records):
    requests = {r.email: r.id for r in db.session.scalars(select(AccountRequest))}
    mixed = [requests["jar-jar.binks@example.org"], requests["boba.fett@example.org"]]
    one_message(bulk(staff_client, "account-requests", "approve", mixed), "warning",
                "1 demande validée : BINKS Jar-Jar.", "Non validée : FETT Boba (SIRET 73282932000017 inconnu).")
    one_message(bulk(staff_client, "account-requests", "approve", mixed[1:]), "danger",
                "Aucune demande validée. Non validée : FETT Boba")
    url = f"/admin/account-requests/refuse/?ids={mixed[1]}"
    one_message(post(staff_client, url, {"reason": "cpf"}), "success", "1 demande refusée : FETT Boba ; le motif a été envoyé")

    # ✓ on a request opens the creation form; saving it approves the request.
    temple = records["establishments"]
    url = f"/admin/users/new/?request={records['account_requests']}"
    form = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "ahsoka.tano@example.org",
            "phone": "0611223344", "grants-present": "1", "grants-establishment": [str(temple)], "grants-primary": str(temple)}
    one_message(post(staff_client, url, form), "success", "Demande validée", "TANO Ahsoka")
