"""The requests tab, the emails list and a user's edit page write their rows and inputs themselves (issue 15):
what they write must stay what Flask-Admin's formatters and WTForms' widgets wrote, hostile text escaped."""

from __future__ import annotations

import re

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from models import AccountRequest, OutboundEmail, User, utcnow
from models.queries import UserFilter
from views.user_forms import UserEditForm

HOSTILE = '"><img src=x onerror=alert(1)> & \'quoted\''


def test_an_emails_row_shows_each_cell_as_the_formatters_did_hostile_text_escaped(staff_client, db):
    db.session.add(OutboundEmail(recipient="x@example.org", subject=HOSTILE, body_text="Corps", kind="request_refused",
                                 status="failed", attempts=5, last_error=HOSTILE, created_at=utcnow()))
    db.session.add(OutboundEmail(recipient="y@example.org", subject="Objet", body_text="Corps", kind="un_autre_type",
                                 status="sent", attempts=0, created_at=utcnow()))
    db.session.commit()
    html = staff_client.get("/admin/emails/").get_data(as_text=True)
    assert HOSTILE not in html
    assert f'<td class="col-subject">{escape(HOSTILE)}</td>' in html
    assert f'<td class="col-last_error">{escape(HOSTILE)}</td>' in html
    assert '<td class="col-kind">Demande refusée</td><td class="col-status">Échec</td><td class="col-attempts">5</td>' in html
    # An unknown kind is shown as stored; no error, no sending date: empty cells.
    assert ('<td class="col-kind">un_autre_type</td><td class="col-status">Envoyé</td><td class="col-attempts">0</td>'
            '<td class="col-sent_at nowrap"></td><td class="col-last_error"></td>') in html
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "x@example.org"))
    link = rf'href="/admin/emails/details/\?id={email.id}&amp;url=[^"]+" title="Voir l\'email à x@example.org"'
    assert re.search(link, html)


def test_a_requests_row_escapes_the_requesters_text_and_links_its_decisions(staff_client, db):
    request = AccountRequest(civility="Mme", last_name="Tano", first_name="Ahsoka", email="ahsoka@example.org", phone="+33611223344",
                             job_title=HOSTILE, company_name=HOSTILE, siret="11138540700015")
    db.session.add(request)
    db.session.commit()
    html = staff_client.get("/admin/account-requests/").get_data(as_text=True)
    assert HOSTILE not in html
    row = re.search(rf'<tr>\s*<td><input type="checkbox" name="rowid" value="{request.id}".*?</tr>', html, re.S).group(0)
    assert f'<td class="col-job_title">{escape(HOSTILE)}</td><td class="col-company_name">{escape(HOSTILE)}</td>' in row
    assert '<td class="col-last_name">TANO</td><td class="col-first_name">Ahsoka</td>' in row
    assert '<td class="col-kind">Ouverture</td>' in row and '<td class="col-siret nowrap">111385407 00015</td>' in row
    assert f'href="/admin/account-requests/approve/{request.id}" title="Valider la demande de Ahsoka TANO"' in row
    assert f'href="/admin/account-requests/refuse/?ids={request.id}" title="Refuser la demande de Ahsoka TANO"' in row
    assert "col-status" not in row  # pending requests only: no status column
    every = staff_client.get("/admin/account-requests/?statut=toutes").get_data(as_text=True)
    assert '<td class="col-status">En cours</td>' in every


def test_the_edit_pages_inputs_are_those_wtforms_writes(app, staff_client, db):
    user = db.session.scalar(select(User).where(User.email == "luke.skywalker@example.org"))
    user.job_title = HOSTILE
    db.session.commit()
    html = staff_client.get(f"/admin/users/edit/?id={user.id}").get_data(as_text=True)
    assert HOSTILE not in html
    with app.test_request_context():
        form = UserEditForm(obj=user, meta={"csrf": False})
        expected = [
            form.last_name(class_="form-control", required=True, autocomplete="family-name", readonly=False),
            form.email(class_="form-control", required=True, autocomplete="email", readonly=False),
            form.job_title(class_="form-control", required=False, autocomplete="organization-title", readonly=False),
            form.version(),
            *(f"{choice(class_='form-check-input')} {choice.label(class_='form-check-label')}" for choice in form.civility),
        ]
    for tag in expected:
        assert str(tag) in html, tag


def test_the_company_filter_finds_the_establishments_first_on_postgresql():
    statement = select(User.id).where(*UserFilter(entreprise="552203358").clauses())
    assert "= ANY(ARRAY(SELECT establishments.id" in str(statement.compile(dialect=postgresql.dialect()))
    assert "grants.establishment_id IN (SELECT establishments.id" in str(statement.compile(dialect=sqlite.dialect()))
