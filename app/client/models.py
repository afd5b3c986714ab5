"""The API's resources as the client returns them: the server's own response schemas, so the
client and the API cannot drift apart."""

from app.products.schemas import PriceHistoryOut as PriceHistory
from app.products.schemas import PricePoint, ProductPage
from app.products.schemas import ProductOut as Product

__all__ = ["PriceHistory", "PricePoint", "Product", "ProductPage"]
