"""The console backend (`MAIL_BACKEND=console`, the default of `make run`): each email printed as a person reads
it, so that a developer can follow its links: subject, recipient, Message-ID, the decoded text, then every
link once, each on its own line ("(aucun)" when there is none)."""

from __future__ import annotations

import io
import sys
from email.message import EmailMessage

from admin_app.services import emails

CONSOLE = {"MAIL_BACKEND": "console"}


def message(text: str | None, html: str | None = None, *, subject: str = "Créez votre mot de passe") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = "Mon compte DEFI <no-reply@example.org>"
    msg["To"] = "hélène.durand@example.org"
    msg["Message-ID"] = "<outbox.7.20260101120000000000@example.org>"
    if text is not None:
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(html or "", subtype="html")
    return msg


def printed(capsys, msg: EmailMessage) -> str:
    emails._send(msg, CONSOLE)
    return capsys.readouterr().out


def test_an_email_is_printed_whole_with_its_links_listed_once_each(capsys):
    long_link = "http://127.0.0.1:5000/account/set-password/" + "a" * 90 + ".b-c_d"
    text = (f"Bonjour Hélène DURAND,\n\nPour créer votre mot de passe, ouvrez ce lien :\n\n{long_link}\n\n"
            f"Aide : https://example.org/aide puis encore {long_link}\n\n")
    out = printed(capsys, message(text, "<p>Bonjour</p>"))
    assert out == (
        "\n----- email -----\n"
        "Objet : Créez votre mot de passe\n"
        "À : hélène.durand@example.org\n"
        "Message-ID : <outbox.7.20260101120000000000@example.org>\n"
        "\n"
        "Bonjour Hélène DURAND,\n\nPour créer votre mot de passe, ouvrez ce lien :\n\n"
        f"{long_link}\n\nAide : https://example.org/aide puis encore {long_link}\n"
        "\n"
        "Liens :\n"
        f"{long_link}\n"
        "https://example.org/aide\n"
        "-----------------\n"
    )


def test_an_email_without_a_link_says_so(capsys):
    lines = printed(capsys, message("Votre demande de compte n'a pas été acceptée.\n")).splitlines()
    assert lines[lines.index("Liens :") + 1] == "(aucun)"
    assert lines[-2:] == ["(aucun)", "-----------------"]


def test_the_text_keeps_its_indentation_but_not_its_trailing_blank_lines(capsys):
    lines = printed(capsys, message("   Bonjour,\n\n   à bientôt.\n\n\n")).splitlines()
    start = lines.index("Message-ID : <outbox.7.20260101120000000000@example.org>") + 2
    assert lines[start:] == ["   Bonjour,", "", "   à bientôt.", "", "Liens :", "(aucun)", "-----------------"]


def test_an_email_with_no_text_part_prints_its_headers_and_no_text(capsys):
    lines = printed(capsys, message(None, "<p>Bonjour <a href='https://example.org/x'>ici</a></p>")).splitlines()
    assert lines == [
        "", "----- email -----", "Objet : Créez votre mot de passe", "À : hélène.durand@example.org",
        "Message-ID : <outbox.7.20260101120000000000@example.org>", "", "", "", "Liens :", "(aucun)", "-----------------",
    ]


def test_each_email_is_flushed_at_once_so_a_piped_console_shows_it_without_delay(monkeypatch):
    class Piped(io.StringIO):
        flushed_at: list[int] = []

        def flush(self):
            self.flushed_at.append(len(self.getvalue()))
            super().flush()

    out = Piped()
    monkeypatch.setattr(sys, "stdout", out)
    emails._send(message("Bonjour,\n"), CONSOLE)
    assert out.getvalue().endswith("-----------------\n")
    assert len(out.getvalue()) in out.flushed_at
