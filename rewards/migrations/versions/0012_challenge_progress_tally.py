"""challenge progress keeps its tally (distinct sets, streak days) and is indexed for board
syncs by (challenge, period, customer)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 10:20:00.000000

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    # Rows stored before keep tally NULL: the feed recounts them from their contributions.
    with op.batch_alter_table("challenge_progress", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "tally",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.drop_index("ix_challenge_progress_challenge_id_period")
        batch_op.create_index(
            "ix_challenge_progress_board", ["challenge_id", "period", "customer_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("challenge_progress", schema=None) as batch_op:
        batch_op.drop_index("ix_challenge_progress_board")
        batch_op.create_index(
            "ix_challenge_progress_challenge_id_period", ["challenge_id", "period"], unique=False
        )
        batch_op.drop_column("tally")
