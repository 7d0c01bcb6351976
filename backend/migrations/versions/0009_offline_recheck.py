"""offline re-check: disagreements on offline scans, devices' last bundle download

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    # Existing rows get NULL: nobody disagreed with scans stored before the re-check.
    with op.batch_alter_table("check_ins") as batch:
        batch.add_column(sa.Column("disagreement", sa.String(length=32), nullable=True))
    with op.batch_alter_table("scan_receipts") as batch:
        batch.add_column(sa.Column("disagreement", sa.String(length=32), nullable=True))
        # Officials' overview counts a region's disagreements by checkpoint.
        batch.create_index("ix_scan_receipts_checkpoint_disagreement",
                           ["checkpoint_id", "disagreement"], unique=False)
    # A device with no row here has downloaded no bundle since this revision: its
    # uploads are bounded as if it had downloaded one just now.
    op.create_table(
        "device_bundles",
        sa.Column("credential_id", sa.Integer(), nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["credential_id"], ["credentials.id"],
                                name=op.f("fk_device_bundles_credential_id_credentials")),
        sa.PrimaryKeyConstraint("credential_id", name=op.f("pk_device_bundles")),
    )


def downgrade_():
    op.drop_table("device_bundles")
    with op.batch_alter_table("scan_receipts") as batch:
        batch.drop_index("ix_scan_receipts_checkpoint_disagreement")
        batch.drop_column("disagreement")
    with op.batch_alter_table("check_ins") as batch:
        batch.drop_column("disagreement")


def upgrade_credit():
    """The credit store has no change in this revision."""


def downgrade_credit():
    """The credit store has no change in this revision."""
