from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, SmallInteger, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base


class RoutingOverride(Base):
    """Operator overrides of read routing: one row, read by every API process each check."""

    __tablename__ = "routing_overrides"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    read_balancing: Mapped[str | None] = mapped_column(String(20))
    drained: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_by: Mapped[str | None] = mapped_column(Text)
