"""record kinds a data provider may import (identity records only from one named for them)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    # NULL for every existing provider: every kind but identity.
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("record_kinds", sa.JSON(), nullable=True))


def downgrade_():
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("record_kinds")


def upgrade_credit():
    """The credit store has no change in this revision."""


def downgrade_credit():
    """The credit store has no change in this revision."""
