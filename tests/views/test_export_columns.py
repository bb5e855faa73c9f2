"""The users export's columns are written once (admin_app.jobs.export.HEADER) and are the list's, then email and
phone, in the list's words: the synchronous export and the job both write them."""

from __future__ import annotations

from admin_app.jobs import export
from views.users import UserView


def test_the_export_header_is_the_lists_columns_then_email_and_phone():
    assert export.HEADER == [UserView.column_labels[c] for c in UserView.column_list] + ["Email", "Téléphone"]
