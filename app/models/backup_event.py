from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Index, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class BackupEvent(Base):
    """What a backup job did (`trackr backup create` / `verify`): written on the primary by
    the job, replicated, and read by every API node for /health and /metrics."""

    __tablename__ = "backup_events"
    __table_args__ = (
        CheckConstraint("kind IN ('backup', 'verify')", name="kind"),
        Index("ix_backup_events_kind_finished_at", "kind", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean)
    backup_id: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
