"""credit audit log: credit acts audited in the credit store, apart from health officials

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    """The health database has no change in this revision."""


def downgrade_():
    """The health database has no change in this revision."""


def upgrade_credit():
    op.create_table(
        "credit_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=120), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_credit_audit_log_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_credit_audit_log_prev_hash")),
    )
    with op.batch_alter_table("credit_audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_audit_log_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_audit_log_actor_id"), ["actor_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_credit_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_credit_audit_log_id_hash"), ["id_hash"],
                              unique=False)


def downgrade_credit():
    with op.batch_alter_table("credit_audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_audit_log_id_hash"))
        batch_op.drop_index(batch_op.f("ix_credit_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_credit_audit_log_actor_id"))
        batch_op.drop_index(batch_op.f("ix_credit_audit_log_action"))
    op.drop_table("credit_audit_log")
