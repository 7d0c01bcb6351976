"""code reuse: how long a stored code may be served without evaluating again

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 08:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    # Existing rows get NULL: evaluate again on the next read, as before.
    with op.batch_alter_table("code_states") as batch:
        batch.add_column(sa.Column("reusable_until", sa.DateTime(timezone=True), nullable=True))


def downgrade_():
    with op.batch_alter_table("code_states") as batch:
        batch.drop_column("reusable_until")


def upgrade_credit():
    """The credit store has no change in this revision."""


def downgrade_credit():
    """The credit store has no change in this revision."""
