"""The guide's demo cast (seed_data/demo.json, loaded by the `demo` fixture): who logs in with what, and the
SIRETs of its establishments. Only the tests that replay the guide's story, or need its exact people, use it;
a test about a rule builds its own cast with tests/services/factories.py."""

from __future__ import annotations

from sqlalchemy import select

from models import Establishment, User

# Logins, as (email, password).
STAFF = ("staff@example.org", "demo-staff-2026")  # Leia ORGANA, back-office staff
LUKE = ("luke.skywalker@example.org", "demo-luke-2026")  # Gestionnaire on both Temple JEDI establishments
OBIWAN = ("obi-wan.kenobi@example.org", "demo-obiwan-2026")  # Gestion des utilisateurs on Temple JEDI 00015 only
CHEWIE = ("chewbacca@example.org", "demo-chewie-2026")  # Gestionnaire of the other company (Cantina)
LANDO = ("lando.calrissian@example.org", "demo-lando-2026")  # no user management at all (OPCA DEFI)
PADME = ("padme.amidala@example.org", "demo-padme-2026")  # inactive: reporting and payments on the Annexe
HAN_EMAIL = "han.solo@example.org"  # payments on the Cantina; no password, and a pending request of his own

STAFF_NAME = "Leia ORGANA"  # STAFF's name in the top bar

# Establishments, by SIRET.
TEMPLE = "11138540700015"  # Temple JEDI
ANNEXE = "11138540700023"  # Temple JEDI Annexe Dagobah
CANTINA = "55220335800015"  # Cantina de Mos Eisley
ANCHORHEAD = "55220335800023"  # Cantina Ancre d'Anchorhead
OPCA = "40282065800217"  # OPCA DEFI


def uid(db, email: str) -> int | None:
    """The id of the user with this email (a demo person's, or one a test made)."""
    return db.session.scalar(select(User.id).where(User.email == email))


def eid(db, siret: str) -> int | None:
    """The id of the establishment with this SIRET."""
    return db.session.scalar(select(Establishment.id).where(Establishment.siret == siret))
