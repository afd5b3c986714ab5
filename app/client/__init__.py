"""A failover client for trackr: several backends, one API (sync and async, on httpx).

from app.client import TrackrClient
with TrackrClient(["https://a.example", "https://b.example"], token=jwt) as client:
    product = client.create_product({...})      # safe to retry: Idempotency-Key added
    client.get_product(product.id)             # carries the write's consistency token
"""

from app.client.async_client import AsyncTrackrClient
from app.client.errors import AllBackendsUnavailable, ApiError, TrackrError
from app.client.models import PriceHistory, PricePoint, Product, ProductPage
from app.client.sync_client import TrackrClient

__all__ = [
    "AllBackendsUnavailable",
    "ApiError",
    "AsyncTrackrClient",
    "PriceHistory",
    "PricePoint",
    "Product",
    "ProductPage",
    "TrackrClient",
    "TrackrError",
]
