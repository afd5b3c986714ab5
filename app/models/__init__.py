"""Every ORM model, imported here so Alembic and the app see one metadata."""

from app.db.base import Base
from app.models.backup_event import BackupEvent
from app.models.idempotency_key import IdempotencyKey
from app.models.price_history import PriceHistory
from app.models.product import Product
from app.models.routing_override import RoutingOverride

__all__ = ["BackupEvent", "Base", "IdempotencyKey", "PriceHistory", "Product", "RoutingOverride"]
