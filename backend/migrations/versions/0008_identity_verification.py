"""identity verification: enrolments, one-time verification codes

Existing citizen credentials were bound to a person by the ID number alone, which
proves nothing. Each becomes an unverified enrolment (with the same id, so the
mapping is plain) and must verify once; verification binds it back to the same
person, whose codes, reports and history are untouched.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    op.create_table(
        "enrolments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("id_tail", sa.String(length=4), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("citizen_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"],
                                name=op.f("fk_enrolments_citizen_id_citizens")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolments")),
    )
    with op.batch_alter_table("enrolments") as batch:
        batch.create_index(batch.f("ix_enrolments_id_hash"), ["id_hash"], unique=False)
        batch.create_index(batch.f("ix_enrolments_citizen_id"), ["citizen_id"], unique=False)

    op.create_table(
        "verification_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrolment_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["enrolment_id"], ["enrolments.id"],
                                name=op.f("fk_verification_codes_enrolment_id_enrolments")),
        sa.ForeignKeyConstraint(["issued_by"], ["credentials.id"],
                                name=op.f("fk_verification_codes_issued_by_credentials")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_codes")),
    )
    with op.batch_alter_table("verification_codes") as batch:
        batch.create_index(batch.f("ix_verification_codes_enrolment_id"), ["enrolment_id"],
                           unique=False)

    with op.batch_alter_table("credentials") as batch:
        batch.add_column(sa.Column("enrolment_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(batch.f("fk_credentials_enrolment_id_enrolments"),
                                 "enrolments", ["enrolment_id"], ["id"])
        batch.create_index(batch.f("ix_credentials_enrolment_id"), ["enrolment_id"],
                           unique=False)

    op.execute(
        "INSERT INTO enrolments (id, id_hash, id_tail, name, phone, region, created_at) "
        "SELECT cr.id, c.id_hash, c.id_tail, c.name, c.phone, c.region, cr.created_at "
        "FROM credentials cr JOIN citizens c ON c.id = cr.citizen_id "
        "WHERE cr.role = 'citizen'"
    )
    op.execute(
        "UPDATE credentials SET enrolment_id = id, citizen_id = NULL "
        "WHERE role = 'citizen' AND citizen_id IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('enrolments', 'id'), "
            "COALESCE((SELECT max(id) FROM enrolments), 0) + 1, false)"
        )


def downgrade_():
    op.execute(
        "UPDATE credentials SET citizen_id = "
        "(SELECT e.citizen_id FROM enrolments e WHERE e.id = credentials.enrolment_id) "
        "WHERE enrolment_id IS NOT NULL"
    )
    with op.batch_alter_table("credentials") as batch:
        batch.drop_index(batch.f("ix_credentials_enrolment_id"))
        batch.drop_constraint(batch.f("fk_credentials_enrolment_id_enrolments"),
                              type_="foreignkey")
        batch.drop_column("enrolment_id")
    op.drop_table("verification_codes")
    op.drop_table("enrolments")


def upgrade_credit():
    """The credit store has no change in this revision."""


def downgrade_credit():
    """The credit store has no change in this revision."""
