"""pending Rattachements filed before claims were bound: each names the proven account of its email

A claim is now approved on the account its holder confirmed (account_requests.user_id), never on whoever holds
its email at approval. The ones already confirmed (pending) when this was deployed get the account that holds
their email now, if that address is proven; any other stays unbound and is refused at approval, in French.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:10:00

"""
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "UPDATE account_requests SET user_id = (SELECT users.id FROM users WHERE users.email = account_requests.email "
        "AND users.email_verified_at IS NOT NULL) "
        "WHERE kind = 'attachment' AND status = 'pending' AND user_id IS NULL"
    )


def downgrade():
    pass  # the binding is what the claims mean now: nothing to take back
