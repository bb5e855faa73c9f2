"""The guide's feature matrix (section 5), copied by hand: what the code's matrix is checked against."""

# The guide's table, copied by hand: columns are Prise en charge, Contrat de pro, Données sensibles,
# Collecte / versements, Données des reporting, Gestion des utilisateurs, Gestionnaire.
GUIDE = """
Créer un dossier                                  X . . . . . X
Créer un contrat de pro                           . X . . . . X
Suivre les dossiers                               X . . . . . X
Suivre les contrats de pro                        . X . . . . X
Gérer les salariés                                X X . . . . X
Gérer le salaire horaire                          . . X . . . X
Visualiser les comptes                            . . . . X . X
Suivre et visualiser les factures                 . . . . X . X
Déclarer les contributions formations             . . . X . . X
Déclencher les versements volontaires             . . . X . . X
Gérer les mandats de prélèvement                  . . . X . . X
Visualiser le suivi financier de l'activité       . . . . X . X
Télécharger les reportings DEFi Performance       . . . . X . X
Accéder au catalogue Sélection DEFi Formations    X X X X X X X
Actualités                                        X X X X X X X
Gérer son profil                                  X X X X X X X
Gérer les utilisateurs                            . . . . . X X
"""
COLUMNS = ["funding", "apprenticeship", "sensitive_data", "payments", "reporting", "user_admin", "manager"]


def guide_rows():
    for line in GUIDE.strip().splitlines():
        *words, = line.split()
        marks = words[-7:]
        feature = " ".join(words[:-7])
        yield feature, {COLUMNS[i]: mark == "X" for i, mark in enumerate(marks)}


GUIDE_TABLE = dict(guide_rows())
