"""trust list: the keys of a fetched JWKS that were not usable, and why

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    # Existing rows get NULL: nothing recorded as dropped until the next refresh.
    with op.batch_alter_table("trusted_issuers") as batch:
        batch.add_column(sa.Column("dropped_keys", sa.JSON(), nullable=True))


def downgrade_():
    with op.batch_alter_table("trusted_issuers") as batch:
        batch.drop_column("dropped_keys")


def upgrade_credit():
    """The credit store has no change in this revision."""


def downgrade_credit():
    """The credit store has no change in this revision."""
