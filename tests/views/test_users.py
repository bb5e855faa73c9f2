"""The users screen: columns, filters, counts, sorting, actions, creation, editing and grants."""

import csv
import html
import io
import re
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from models import AuditEvent, Grant, Habilitation, OperationItem, OperationKind, OutboundEmail, User

from ..databases import count_statements
from ..demo import LUKE, uid
from ..http import csrf_token, edit_data, grants_form, login
from ..services import factories as f

COUNT = re.compile(r"Nombre total d'utilisateurs : ([\d\u202f]+)")


def total(client, query=""):
    html = client.get(f"/admin/users/{query}").get_data(as_text=True)
    return int(COUNT.search(html).group(1).replace("\u202f", ""))


def names(client, query=""):
    html = client.get(f"/admin/users/{query}").get_data(as_text=True)
    return re.findall(r'<td class="col-last_name">([^<]*)</td>', html)


def named(user, last_name, first_name, email):
    user.last_name, user.first_name, user.email = last_name, first_name, email
    return user


@pytest.fixture
def cast(db, as_member):
    """The actions' and forms' own people, on two establishments of one company: Luke (Gestionnaire on both, primary on
    the first, with a password), Han (Collecte / versements on the first, his address not proven yet, no password),
    Chewbacca, Padmé (inactive); `cast.staff` is a staff member's logged-in client."""
    site = f.establishment(db.session)
    other = f.establishment(db.session, of=site.company)
    me = f.member(db.session, staff=True)
    luke = named(f.member(db.session, [(site, f.MANAGER), (other, f.MANAGER)]), "Skywalker", "Luke", LUKE[0])
    han = named(f.user(db.session, [(site, [Habilitation.PAYMENTS])]), "Solo", "Han", "han.solo@example.org")
    han.email_verified_at, han.job_title = None, "Contrebandier en chef"
    chewie = f.user(db.session, [(site, f.MANAGER)])
    padme = f.user(db.session, [(site, [Habilitation.REPORTING])], active=False)
    people = {"me": me, "luke": luke, "han": han, "chewie": chewie, "padme": padme}
    places = {"site": site.id, "other": other.id}
    client = as_member(me)
    return SimpleNamespace(staff=client, me_user=me, **places, **{name: user.id for name, user in people.items()})



# --- the list ---------------------------------------------------------------------------------------

def test_columns_in_the_guides_order_with_french_values(staff_client):
    html = staff_client.get("/admin/users/").get_data(as_text=True)
    headers = re.findall(r'<th scope="col" class="nowrap"[^>]*>\s*<a [^>]*>([^<]+)</a>', html)
    assert [h.strip() for h in headers] == [
        "Actif", "Nom", "Prénom", "Fonction", "Gestionnaire", "Établissement principal", "Dernière connexion",
    ]
    row = re.search(r'aria-label="Sélectionner SKYWALKER Luke"></td>(.*?)<td class="nowrap">', html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    # Paris time, the one date format of the app: 15/03/2018 14:32 was stored as 13:32:32 UTC.
    # The email tells apart two people of the same name; it comes with the list's one query.
    assert cells == ["Oui", "SKYWALKER", "Luke", "luke.skywalker@example.org", "Directeur des Ressources Jedi", "Oui",
                     "Temple JEDI 11138540700015", "15/03/2018 14:32"]
    assert re.search(r'<th scope="col" class="nowrap">Email</th>', html)
    assert "Nombre total d&#39;utilisateurs" in html or "Nombre total d'utilisateurs" in html


def test_never_logged_in_shows_an_empty_cell_and_default_sort_is_name(staff_client):
    html = staff_client.get("/admin/users/").get_data(as_text=True)
    solo = re.search(r'aria-label="Sélectionner SOLO Han"></td>(.*?)<td class="nowrap">', html, re.S).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", solo)[-1] == ""
    assert names(staff_client) == sorted(names(staff_client))


COLUMN_CLASSES = ["active", "last_name", "first_name", "job_title", "is_manager", "primary_establishment", "last_login_at"]


def column_values(client, query, column):
    html = client.get(f"/admin/users/{query}").get_data(as_text=True)
    return re.findall(rf'<td class="col-{column}[^"]*">([^<]*)</td>', html)


@pytest.mark.parametrize("index, column", list(enumerate(COLUMN_CLASSES)))
def test_every_column_sorts_both_ways(staff_client, index, column):
    ascending = column_values(staff_client, f"?sort={index}", column)
    descending = column_values(staff_client, f"?sort={index}&desc=1", column)
    assert len(ascending) == 7
    # Ties aside, descending is ascending read backwards (NULLs included, wherever the database puts them).
    assert descending == list(reversed(ascending))
    assert ascending != descending  # every column has at least two different values in the demo cast


def test_name_order_is_alphabetical(staff_client):
    by_name = names(staff_client, "?sort=1")
    assert by_name == sorted(by_name)
    assert names(staff_client, "?sort=1&desc=1") == sorted(by_name, reverse=True)


def test_sort_by_last_login(staff_client):
    ordered = names(staff_client, "?sort=6&desc=1&connexion_depuis=2000-01-01")
    assert ordered[0] == "ORGANA" and ordered[-1] == "AMIDALA"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", 7),
        ("?nom=skywalker", 1),
        ("?nom=L%C3%B9ke", 1),  # Lùke: accents and case ignored
        ("?nom=padme", 1),
        ("?email=example.org", 7),
        ("?email=SOLO", 1),
        ("?actif=oui", 6),
        ("?actif=non", 1),
        ("?habilitation=user_admin", 3),  # Obi-Wan, and Luke and Chewbacca as Gestionnaires
        ("?habilitation=manager", 2),
        ("?habilitation=sensitive_data", 3),
        ("?entreprise=111385407", 3),  # by SIREN: Luke, Obi-Wan, Padmé, each once although Luke has 2 grants
        ("?entreprise=temple", 3),
        ("?entreprise=cantina&actif=oui", 2),
        ("?etablissement=11138540700023", 3),
        ("?etablissement=dagobah", 3),
        ("?connexion=jamais", 1),
        ("?connexion_avant=2018-03-01", 2),  # Obi-Wan (16-02) and Padmé (10-01)
        ("?connexion_depuis=2018-04-01", 3),  # Lando, Chewbacca, Leia
        ("?staff=oui", 1),
        ("?staff=non", 6),
        ("?mot_de_passe=non", 1),
        ("?search=solo", 1),
        ("?search=obi-wan.kenobi@", 1),
        ("?habilitation=user_admin&entreprise=111385407&actif=oui", 2),
        ("?habilitation=funding&etablissement=11138540700015", 2),
        ("?actif=peut-etre&habilitation=unknown&connexion_avant=hier", 7),  # nonsense is ignored
    ],
)
def test_filters_and_their_counts(staff_client, query, expected):
    assert total(staff_client, query) == expected
    assert len(names(staff_client, query)) == expected


@pytest.mark.parametrize("typed, expected", [
    ("luke skywalker", ["SKYWALKER"]), ("skywalker luke", ["SKYWALKER"]), ("Obi Wan", ["KENOBI"]),
    ("obi wan kenobi", ["KENOBI"]), ("obi-wan", ["KENOBI"]), ("OBI-WAN KÉNOBI", ["KENOBI"]), ("  lùke  ", ["SKYWALKER"]),
    ("obi-wan.kenobi@", ["KENOBI"]), ("d artagnan", ["D'ARTAGNAN"]), ("d’artagnan", ["D'ARTAGNAN"]),
    ("jean noel", ["D'ARTAGNAN"]), ("Jean-Noël", ["D'ARTAGNAN"]), ("luke obi", []),
])
def test_one_name_search_finds_people_however_their_name_is_typed(staff_client, db, typed, expected):
    db.session.add(User(civility="M.", last_name="d'Artagnan", first_name="Jean-Noël", email="jn.dartagnan@example.org",
                        phone="0611223344"))
    db.session.commit()
    assert [html.unescape(n) for n in names(staff_client, "?" + urlencode({"nom": typed}))] == expected


def test_filters_stay_in_pagination_and_sort_links(staff_client):
    html = staff_client.get("/admin/users/?actif=oui&habilitation=funding").get_data(as_text=True)
    sort_link = re.search(r'href="(/admin/users/\?sort=1[^"]*)"', html).group(1)
    assert "actif=oui" in sort_link and "habilitation=funding" in sort_link


def test_reset_filter_link_clears_everything(staff_client):
    html = staff_client.get("/admin/users/?actif=non&nom=x").get_data(as_text=True)
    reset = re.search(r'<a class="btn btn-link" href="([^"]+)">Réinitialiser le filtre', html).group(1)
    assert reset == "/admin/users/"


def test_page_sizes_and_pages_are_exact(staff_client, db, runner):
    runner.invoke(args=["seed", "volume", "--users", "130"])
    assert total(staff_client) == 137
    seen = []
    for page in range(3):
        seen += names(staff_client, f"?page_size=50&page={page}")
    assert len(seen) == 137
    assert len(names(staff_client, "?page_size=100")) == 100
    assert len(names(staff_client, "?page_size=1000000")) == 20  # unknown sizes fall back to the default


@pytest.mark.parametrize("page_size", [20, 100])
def test_the_list_runs_a_constant_small_number_of_statements(staff_client, db, runner, page_size):
    runner.invoke(args=["seed", "volume", "--users", "150"])
    staff_client.get("/admin/users/")  # warm-up
    with count_statements(db) as statements:
        response = staff_client.get(f"/admin/users/?page_size={page_size}&habilitation=user_admin&actif=oui")
    assert response.status_code == 200
    assert len(names(staff_client, f"?page_size={page_size}")) == page_size
    assert len(statements) <= 4, statements


def test_lookups_return_a_bounded_list(staff_client, runner):
    runner.invoke(args=["seed", "volume", "--users", "2000"])
    companies = staff_client.get("/admin/users/lookup/companies?q=entreprise").get_json()["results"]
    assert len(companies) == 20
    jedi = staff_client.get("/admin/users/lookup/companies?q=1113").get_json()["results"]
    assert [c["label"] for c in jedi] == ["Temple JEDI – 111385407"]
    company_id = jedi[0]["id"]
    establishments = staff_client.get(f"/admin/users/lookup/establishments?company={company_id}").get_json()["results"]
    assert [e["value"] for e in establishments] == ["11138540700015", "11138540700023"]


# --- actions ----------------------------------------------------------------------------------------

def post_action(client, action, ids=(), query="", all_matching=False):
    token = csrf_token(client, "/admin/users/")
    data = {"csrf_token": token, "action": action, "url": "/admin/users/", "rowid": [str(i) for i in ids]}
    if all_matching:
        data["all_matching"] = "1"
    return client.post(f"/admin/users/action/{query}", data=data, follow_redirects=True)


def test_bulk_deactivate_then_activate_with_audit_and_french_messages(cast, db):
    staff_client = cast.staff
    ids = [cast.luke, cast.han, cast.chewie]
    html = post_action(staff_client, "deactivate", ids).get_data(as_text=True)
    assert "3 utilisateurs désactivés." in html
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User).where(User.id.in_(ids), User.active.is_(False))) == 3
    # One Historique line for the operation (not one per user); its items name the users.
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.deactivate")).all()
    assert event.target_type == "operation" and event.before == {"active": True} and event.after["active"] is False
    assert sorted(db.session.scalars(select(OperationItem.user_id).where(OperationItem.operation_id == event.target_id))) == sorted(ids)

    html = post_action(staff_client, "activate", ids[:1]).get_data(as_text=True)
    assert "1 utilisateur activé" in html


def test_a_rows_button_acts_on_its_user_through_the_pages_one_row_form(cast, db):
    staff_client, luke = cast.staff, cast.luke
    page = staff_client.get("/admin/users/?nom=skywalker").get_data(as_text=True)
    # One form for every row's buttons (one CSRF token a page, not one a button); each button names its action and user.
    assert page.count('id="row-action-form"') == 1 and "row-action\"" not in page
    assert f'form="row-action-form" name="row_action" value="deactivate:{luke}"' in page
    assert 'data-confirm="Désactiver SKYWALKER Luke ?"' in page
    token = csrf_token(staff_client, "/admin/users/")
    html = staff_client.post("/admin/users/row-action/", data={"csrf_token": token, "row_action": f"deactivate:{luke}",
                                                               "url": "/admin/users/?nom=skywalker"}, follow_redirects=True)
    assert "1 utilisateur désactivé" in html.get_data(as_text=True)
    assert html.request.path == "/admin/users/" and html.request.args["nom"] == "skywalker"  # back to the same list
    db.session.expire_all()
    assert not db.session.get(User, luke).active
    (operation,) = db.session.scalars(select(AuditEvent.target_id).where(AuditEvent.action == "user.deactivate")).all()
    assert db.session.scalars(select(OperationItem.user_id).where(OperationItem.operation_id == operation)).all() == [luke]


@pytest.mark.parametrize("value", ["explode:{luke}", "deactivate:", "deactivate:1 OR 1=1", "deactivate", ""])
def test_a_rows_button_with_an_unknown_action_or_row_changes_nothing(cast, db, value):
    staff_client, luke = cast.staff, cast.luke
    token = csrf_token(staff_client, "/admin/users/")
    html = staff_client.post("/admin/users/row-action/", data={"csrf_token": token, "row_action": value.format(luke=luke), "url": "/"},
                             follow_redirects=True).get_data(as_text=True)
    assert "Action inconnue : rien n&#39;a été modifié." in html
    db.session.expire_all()
    assert db.session.get(User, luke).active
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("user.%"))) == 0


def test_deactivation_ends_the_users_open_session(cast, db, app):
    luke_client = app.test_client()
    login(luke_client, LUKE[0], f.PASSWORD)
    assert luke_client.get("/account/profile").status_code == 200
    post_action(cast.staff, "deactivate", [cast.luke])
    assert luke_client.get("/account/profile").status_code == 302
    post_action(cast.staff, "activate", [cast.luke])
    assert luke_client.get("/account/profile").status_code == 302  # reactivation does not revive the session


def test_action_on_all_matching_users(staff_client, db):
    html = post_action(staff_client, "deactivate", query="?entreprise=111385407&actif=oui", all_matching=True).get_data(as_text=True)
    assert "2 utilisateurs désactivés" in html
    db.session.expire_all()
    assert total(staff_client, "?entreprise=111385407&actif=oui") == 0
    assert total(staff_client, "?actif=oui") == 4


def test_an_action_without_selection_changes_nothing(cast, db):
    html = post_action(cast.staff, "deactivate", []).get_data(as_text=True)
    assert "Sélectionnez au moins un utilisateur." in html
    assert total(cast.staff, "?actif=non") == 1


def test_forged_ids_are_refused(cast):
    response = post_action(cast.staff, "deactivate", ["1 OR 1=1"])
    assert response.status_code == 400


def test_staff_cannot_deactivate_or_delete_themself_and_nothing_else_happens(cast, db):
    staff_client, me, luke = cast.staff, cast.me, cast.luke
    html = post_action(staff_client, "deactivate", [me, luke]).get_data(as_text=True)
    assert "Vous ne pouvez pas vous désactiver vous-même" in html
    html = post_action(staff_client, "delete", [me, luke]).get_data(as_text=True)
    assert "Vous ne pouvez pas vous supprimer vous-même" in html
    db.session.expire_all()
    assert db.session.get(User, luke).active is True
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.in_(["user.deactivate", "user.delete"]))) == 0


def test_the_last_active_staff_account_is_protected(db, app):
    from admin_app.services import Actor, ServiceError
    from admin_app.services.bulk import delete_users, set_active

    staff = f.user(db.session, staff=True)
    obiwan = f.user(db.session, [(f.establishment(db.session), [Habilitation.USER_ADMIN])])
    db.session.commit()
    system = Actor()
    with pytest.raises(ServiceError, match="dernier compte staff actif"):
        set_active(db.session, system, [staff.id], False)
    with pytest.raises(ServiceError, match="dernier compte staff actif"):
        delete_users(db.session, system, [staff.id, obiwan.id])
    db.session.expire_all()
    assert db.session.get(User, obiwan.id) is not None and db.session.get(User, staff.id).active


def test_a_selection_of_tens_of_thousands_of_ids_is_one_parameter(db, cast):
    """More ids than SQLite accepts parameters in one statement (32,766): one bound list, no chunks. A person's
    selection naming ids that exist no more is refused whole; a job's chunk skips them."""
    from admin_app.services import Actor, ServiceError, operations
    from admin_app.services.bulk import set_active

    staff = db.session.get(User, cast.me)
    luke, han = cast.luke, cast.han
    unknown = list(range(10_000_000, 10_040_000))
    with count_statements(db) as statements, pytest.raises(ServiceError, match="^40\u202f000 utilisateur\\(s\\) sélectionné"):
        set_active(db.session, Actor(staff), [luke, *unknown, han], False)
    # The locks (the users and the actor on PostgreSQL, the write lock on SQLite), the actor read afresh, the one COUNT
    assert len(statements) <= 4
    db.session.expire_all()
    assert db.session.get(User, luke).active and db.session.get(User, han).active

    operation = operations.start(db.session, Actor(staff), OperationKind.DEACTIVATE, "filtre", job_id=None)
    with count_statements(db) as statements:
        result = set_active(db.session, Actor(staff), [luke, *unknown, han], False, operation=operation)
    assert (result.requested, result.changed) == (2, 2)
    # The locks (the users and the actor on PostgreSQL, the write lock on SQLite), COUNT, active staff, the items'
    # INSERT...SELECT, the UPDATE, the operation's counts (and the session's own)
    assert len(statements) <= 8
    db.session.expire_all()
    assert not db.session.get(User, luke).active and not db.session.get(User, han).active
    targets = db.session.scalars(select(OperationItem.user_id).where(OperationItem.operation_id == result.operation_id)).all()
    assert sorted(targets) == sorted([luke, han])


def test_bulk_delete_removes_users_and_their_grants_keeping_a_readable_history(cast, db):
    staff_client, luke = cast.staff, cast.luke
    html = post_action(staff_client, "delete", [luke]).get_data(as_text=True)
    assert "1 utilisateur supprimé, définitivement : une suppression ne peut pas être annulée." in html.replace("&#39;", "'")
    assert "Annuler cette opération" not in html
    db.session.expire_all()
    assert db.session.get(User, luke) is None
    assert db.session.scalar(select(func.count()).select_from(Grant).where(Grant.user_id == luke)) == 0
    event_ = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.delete"))
    assert event_.target_label == "Suppression de 1 utilisateur — SKYWALKER Luke <luke.skywalker@example.org>"
    item = db.session.scalar(select(OperationItem).where(OperationItem.operation_id == event_.target_id))
    assert (item.user_id, item.user_label) == (luke, "SKYWALKER Luke <luke.skywalker@example.org>")


def test_resend_invitation_depends_on_the_users_state(cast, db):
    staff_client, han, luke = cast.staff, cast.han, cast.luke  # Han's email not verified yet; Luke has a password
    html = post_action(staff_client, "invite", [han, luke]).get_data(as_text=True)
    assert "1 invitation renvoyée ; 1 ignoré(s)" in html
    emails = db.session.scalars(select(OutboundEmail)).all()
    assert [(e.recipient, e.subject) for e in emails] == [("han.solo@example.org", "Validez votre adresse email")]
    assert "/account/verify/" in emails[0].body_text


def test_export_csv_with_bom_columns_and_formula_neutralised(staff_client, db):
    db.session.execute(User.__table__.update().where(User.email == "han.solo@example.org").values(job_title="=HYPERLINK(1)"))
    db.session.commit()
    response = post_action(staff_client, "export", query="?entreprise=cantina", all_matching=True)
    assert response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Actif", "Nom", "Prénom", "Fonction", "Gestionnaire", "Établissement principal", "Dernière connexion",
                       "Email", "Téléphone"]
    assert [r[1] for r in rows[1:]] == ["CHEWBACCA", "SOLO"]
    assert rows[2][3] == "'=HYPERLINK(1)"
    assert rows[2][7:] == ["han.solo@example.org", "06 98 76 54 32"]


# --- creation ---------------------------------------------------------------------------------------

VALID = {"civility": "Mme", "last_name": "Tano", "first_name": "Ahsoka", "email": "Ahsoka.Tano@Example.org",
         "phone": "06 11 22 33 44", "job_title": "Padawan"}


def create(client, **changes):
    data = {**VALID, **changes, "csrf_token": csrf_token(client, "/admin/users/new/")}
    return client.post("/admin/users/new/?url=/admin/users/", data=data)


def test_create_user_queues_the_verification_email_and_lands_on_edit(cast, db):
    response = create(cast.staff)
    user = db.session.scalar(select(User).where(User.email == "ahsoka.tano@example.org"))
    assert response.status_code == 302
    assert re.match(rf"/admin/users/edit/\?id={user.id}", response.location)
    assert (user.last_name, user.phone, user.password_hash, user.email_verified_at, user.active) == (
        "TANO", "+33611223344", None, None, True,
    )
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "ahsoka.tano@example.org"))
    assert email.subject == "Validez votre adresse email" and email.status == "pending"
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.target_id == user.id)) == "user.create"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"last_name": ""}, "Le nom est obligatoire."),
        ({"first_name": ""}, "Le prénom est obligatoire."),
        ({"civility": ""}, "Choisissez la civilité"),
        ({"email": "ahsoka"}, "Cette adresse email n&#39;est pas valide."),
        ({"email": "LUKE.skywalker@example.org"}, "Cette adresse email est déjà utilisée"),
        ({"phone": "12"}, "Ce numéro de téléphone n&#39;est pas valide."),
        ({"phone": ""}, "Le numéro de téléphone est obligatoire."),
    ],
)
def test_create_refuses_bad_input_in_french_and_changes_nothing(cast, db, changes, message):
    before = db.session.scalar(select(func.count()).select_from(User))
    response = create(cast.staff, **changes)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == before
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0


# --- editing and the grant editor --------------------------------------------------------------------

def test_edit_page_shows_the_grant_editor_with_the_guides_labels(staff_client, db):
    html = staff_client.get(f"/admin/users/edit/?id={uid(db, 'luke.skywalker@example.org')}").get_data(as_text=True)
    assert "Éditer un utilisateur" in html and "SKYWALKER Luke" in html
    assert "Temple JEDI – 111385407 00015 – 99019 Coruscant" in html
    for label in ("Établissement principal", "Accès Gestionnaire", "Prise en charge", "Contrat de professionnalisation",
                  "Données des reporting", "Collecte / versements", "Données sensibles", "Gestion des utilisateurs",
                  "Choisissez une entreprise", "Choisissez un établissement"):
        assert label in html, label


def test_save_grants_adds_rows_sets_primary_and_gestionnaire_implies_all(cast, db):
    staff_client, han, cantina, anchorhead = cast.staff, cast.han, cast.site, cast.other
    data = edit_data(staff_client, db, han, job_title="Capitaine")
    data.update(grants_form([(cantina, ["payments"]), (anchorhead, ["manager"])], primary=anchorhead))
    response = staff_client.post(f"/admin/users/edit/?id={han}&url=/admin/users/", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get(User, han)
    assert user.job_title == "Capitaine"
    grants = {g.establishment_id: g for g in user.grants}
    assert grants[anchorhead].is_primary and not grants[cantina].is_primary
    assert all(grants[anchorhead].flags().values())
    assert grants[cantina].flags() == {"manager": False, "funding": False, "apprenticeship": False, "sensitive_data": False,
                                       "payments": True, "reporting": False, "user_admin": False}
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_id == han)).all()
    assert "user.update" in actions and "user.grants" in actions


@pytest.mark.parametrize(
    "rows, primary, message",
    [
        ("twice", "first", "Un même établissement ne peut être ajouté qu&#39;une seule fois."),
        ("two", None, "Choisissez un et un seul établissement principal."),
    ],
)
def test_grant_rules_are_refused_with_nothing_saved(cast, db, rows, primary, message):
    staff_client, han, cantina, anchorhead = cast.staff, cast.han, cast.site, cast.other
    pairs = [(cantina, ["payments"]), (cantina, ["reporting"])] if rows == "twice" else [(cantina, []), (anchorhead, [])]
    data = edit_data(staff_client, db, han, job_title="Changé")
    data.update(grants_form(pairs, primary=cantina if primary else ""))
    response = staff_client.post(f"/admin/users/edit/?id={han}", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get(User, han)
    assert user.job_title == "Contrebandier en chef"
    assert [(g.establishment_id, g.payments) for g in user.grants] == [(cantina, True)]


def test_removing_every_grant_is_allowed(cast, db):
    staff_client, han = cast.staff, cast.han
    data = edit_data(staff_client, db, han)
    data.update({"grants-present": "1"})
    assert staff_client.post(f"/admin/users/edit/?id={han}", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, han).grants == []


def test_swapping_the_primary_establishment(cast, db):
    staff_client, luke, temple, annexe = cast.staff, cast.luke, cast.site, cast.other
    data = edit_data(staff_client, db, luke)
    data.update(grants_form([(temple, ["manager"]), (annexe, ["manager"])], primary=annexe))
    assert staff_client.post(f"/admin/users/edit/?id={luke}", data=data).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, luke).primary_grant.establishment_id == annexe


def test_concurrent_edit_is_refused_and_nothing_is_overwritten(cast, db, as_member):
    staff_client, han = cast.staff, cast.han
    stale = edit_data(staff_client, db, han, job_title="Version de l'onglet 1")
    other = as_member(cast.me_user)  # the same staff member in a second browser
    fresh = edit_data(other, db, han, job_title="Version de l'onglet 2")
    assert other.post(f"/admin/users/edit/?id={han}", data=fresh).status_code == 302
    response = staff_client.post(f"/admin/users/edit/?id={han}", data=stale)
    assert response.status_code == 200
    assert "modifié par quelqu&#39;un d&#39;autre" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, han).job_title == "Version de l'onglet 2"


def test_changing_the_email_waits_for_the_new_mailbox(cast, db):
    staff_client, luke = cast.staff, cast.luke
    data = edit_data(staff_client, db, luke, email="luke@jedi.example.org")
    saved = staff_client.post(f"/admin/users/edit/?id={luke}", data=data, follow_redirects=True)
    assert "en attente de confirmation" in saved.get_data(as_text=True)
    db.session.expire_all()
    user = db.session.get(User, luke)
    assert (user.email, user.pending_email) == ("luke.skywalker@example.org", "luke@jedi.example.org")
    assert user.email_verified_at is not None
    assert db.session.scalars(select(OutboundEmail.recipient).order_by(OutboundEmail.id)).all() == [
        "luke@jedi.example.org", "luke.skywalker@example.org"]
    details = staff_client.get(f"/admin/users/details/?id={luke}").get_data(as_text=True)
    assert "Nouvelle adresse en attente de confirmation : luke@jedi.example.org" in details


def test_details_page_shows_state_grants_features_and_history(staff_client, db):
    obiwan = uid(db, "obi-wan.kenobi@example.org")
    post_action(staff_client, "deactivate", [obiwan])
    html = staff_client.get(f"/admin/users/details/?id={obiwan}").get_data(as_text=True)
    for text in ("obi-wan.kenobi@example.org", "06 23 45 67 89", "Email validé", "Mot de passe créé", "16/02/2018 11:12",
                 "Temple JEDI – 111385407 00015", "Prise en charge", "Créer un dossier", "Gérer les utilisateurs",
                 "Visualiser les comptes", "Historique", "Désactivation"):
        assert text in html, text
    missing = staff_client.get("/admin/users/details/?id=999999", follow_redirects=True)
    assert "Visualiser les comptes" not in missing.get_data(as_text=True)


def test_admin_home_figures_link_to_filtered_lists(staff_client):
    html = staff_client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/users/?actif=oui">6<' in html
    assert 'href="/admin/users/?actif=non">1<' in html
    assert 'href="/admin/users/?connexion=jamais">1<' in html
