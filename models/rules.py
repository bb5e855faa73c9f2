"""Pure validation rules for identifiers people type: SIREN, SIRET, phone, email.

Each `clean_*` returns the normalised value or raises `InvalidValue` with a
French message that can be shown as is; a value that is not text (None aside: empty) is refused too.
"""

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret


class InvalidValue(ValueError):
    """A value a person typed that breaks a rule; the message is French."""


_SPACES = re.compile(r"[\s.\-\u00a0\u202f]")


def _text(value: object, label: str) -> str:
    """`value` as text, None as "": a list, a number or a file (a JSON body, a forged form) is refused, not
    left to fail further down (`.strip()`, a regular expression, the database)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidValue(f"{label} : la valeur envoyée n'est pas un texte.")
    return value


def _digits_only(value: str, label: str) -> str:
    return _SPACES.sub("", _text(value, label))


# The check-digit rules are python-stdnum's, not ours: they know the exceptions to Luhn (La Poste's
# establishments, SIREN 356 000 000, use a sum of digits divisible by 5) and that a SIRET starts with a
# valid SIREN. Only the French messages are ours.
def _stdnum_clean(module, value: str, label: str, length: int) -> str:
    try:
        return module.validate(_digits_only(value, f"Le {label}"))
    except InvalidChecksum:
        raise InvalidValue(f"Ce {label} n'est pas valide (clé de contrôle incorrecte).") from None
    except ValidationError:  # not only ASCII digits, or not the right number of them
        raise InvalidValue(f"Le {label} doit comporter {length} chiffres.") from None


def clean_siren(value: str) -> str:
    """Return the 9-digit SIREN, spaces removed, or raise InvalidValue."""
    return _stdnum_clean(stdnum_siren, value, "SIREN", 9)


def clean_siret(value: str) -> str:
    """Return the 14-digit SIRET, spaces removed, or raise InvalidValue."""
    return _stdnum_clean(stdnum_siret, value, "SIRET", 14)


def format_siret(siret: str) -> str:
    """Show a SIRET as the guide does: SIREN, a space, then the NIC."""
    return f"{siret[:9]} {siret[9:]}" if len(siret) == 14 else siret


def clean_phone(value: str, region: str = "FR") -> str:
    """Return the phone number in E.164 (French numbers as typed: 06 12 34 56 78)."""
    raw = _text(value, "Le numéro de téléphone").strip()
    if not raw:
        raise InvalidValue("Le numéro de téléphone est obligatoire.")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue("Ce numéro de téléphone n'est pas valide.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("Ce numéro de téléphone n'est pas valide.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str | None) -> str:
    """Show an E.164 number the French way (06 12 34 56 78), foreign ones internationally."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 33:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def clean_email(value: str) -> str:
    """Return the email normalised (domain and local part lower-cased) or raise InvalidValue."""
    raw = _text(value, "L'adresse email").strip()
    if not raw:
        raise InvalidValue("L'adresse email est obligatoire.")
    try:
        # No DNS: the portal validates the shape; delivery problems show in the outbox.
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        raise InvalidValue("Cette adresse email n'est pas valide.") from None
    # Addresses are unique case-insensitively: store them lower-cased once and for all.
    return result.normalized.lower()


# Letters (any script, with accents), spaces, apostrophes, hyphens and dots: D'Artagnan, Jean-Noël, ÇA.
_NAME = re.compile(r"^[^\W\d_]+(?:[ '’\-.]+[^\W\d_]+)*\.?$")


def _invisible(char: str, multiline: bool) -> bool:
    if multiline and char in "\n\r\t":
        return False
    # Cc control, Cf format (bidi overrides, zero-width joiners...), Cs surrogate, Co private use, Cn unassigned.
    return unicodedata.category(char).startswith("C")


def clean_text(
    value: str | None, label: str, max_length: int, *, required: bool = True, name: bool = False, multiline: bool = False
) -> str:
    """Return the text with its spaces tidied, or raise InvalidValue with a French message.

    Control and invisible formatting characters are refused everywhere (they hide or reorder
    what a reader sees); a person's name only takes letters, spaces, apostrophes, hyphens and dots.
    Everything else is kept and escaped where it is shown.
    """
    raw = _text(value, label)
    if any(_invisible(c, multiline) for c in raw):
        raise InvalidValue(f"{label} contient des caractères invisibles ou de contrôle non autorisés.")
    text = "\n".join(" ".join(line.split()) for line in raw.strip().splitlines()) if multiline else " ".join(raw.split())
    if not text:
        if required:
            raise InvalidValue(f"{label} est obligatoire.")
        return ""
    if len(text) > max_length:
        raise InvalidValue(f"{label} ne doit pas dépasser {max_length} caractères.")
    if name and not _NAME.match(text):
        raise InvalidValue(f"{label} ne peut contenir que des lettres, des espaces, des apostrophes, des tirets et des points.")
    return text


def csv_safe(value: object) -> str:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or a tab) is read as text."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
