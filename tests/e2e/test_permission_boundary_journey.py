"""The permission boundary in a real browser: Obi-Wan's editor draws out of reach what he does not hold.

The page's script locks boxes under « Accès Gestionnaire » and unlocks them when it is unticked: it must leave
the boundary's boxes as the server drew them, and saving must keep the ticked ones the browser did not send.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from models import Establishment, Grant, User, utcnow

from ..demo import OBIWAN
from .browser import log_in, open_my_users


def test_obiwan_changes_what_he_holds_and_keeps_what_he_does_not(page, db, axe):
    temple = db.session.scalar(select(Establishment.id).where(Establishment.siret == "11138540700015"))
    rey = User(civility="Mme", last_name="Niima", first_name="Rey", email="rey@example.org", phone="0611223344",
               email_verified_at=utcnow())
    rey.grants.append(Grant(establishment_id=temple, is_primary=True, funding=True, sensitive_data=True))
    db.session.add(rey)
    db.session.commit()

    log_in(page, *OBIWAN)
    open_my_users(page, "Obi-Wan KENOBI")
    page.get_by_role("link", name="Éditer NIIMA Rey").click()
    expect(page).to_have_url(re.compile(rf"/admin/users/edit/\?id={rey.id}&"))
    row = page.locator("#grant-rows .grant-row")
    for label in ("Accès Gestionnaire", "Données sensibles", "Collecte / versements", "Données des reporting"):
        expect(row.get_by_label(label)).to_be_disabled()
    expect(row.get_by_label("Données sensibles")).to_be_checked()
    expect(row.get_by_label("Données sensibles")).to_have_accessible_description(re.compile("que vous détenez vous-même"))
    for label in ("Prise en charge", "Contrat de professionnalisation", "Gestion des utilisateurs"):
        expect(row.get_by_label(label)).to_be_enabled()
    expect(row.get_by_role("button", name="Retirer")).to_be_disabled()
    expect(page.locator(f"#grant-{temple}-boundary")).to_have_text(
        "Vous ne pouvez accorder ou retirer que les habilitations que vous détenez vous-même sur cet établissement : "
        "Gestionnaire, Données sensibles, Collecte / versements, Données des reporting.")
    assert not axe(page)

    row.get_by_label("Contrat de professionnalisation").check()
    row.get_by_label("Prise en charge").uncheck()
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/users/(\?.*)?$"))
    db.session.expire_all()
    grant = db.session.scalar(select(Grant).where(Grant.user_id == rey.id))
    assert (grant.apprenticeship, grant.funding, grant.sensitive_data, grant.payments) == (True, False, True, False)
