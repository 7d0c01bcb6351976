"""credit outbox: credit acts the health database records, moved once each

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    # Which outbox entries the health side has recorded: moving one again finds its row.
    op.create_table(
        "moved_credit_acts",
        sa.Column("outbox_uid", sa.String(length=32), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("outbox_uid", name=op.f("pk_moved_credit_acts")),
    )


def downgrade_():
    op.drop_table("moved_credit_acts")


def upgrade_credit():
    op.create_table(
        "credit_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_credit_outbox_key")),
        sa.UniqueConstraint("uid", name=op.f("uq_credit_outbox_uid")),
    )
    with op.batch_alter_table("credit_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_outbox_moved_at"), ["moved_at"],
                              unique=False)


def downgrade_credit():
    with op.batch_alter_table("credit_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_outbox_moved_at"))
    op.drop_table("credit_outbox")
