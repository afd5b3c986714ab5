"""A failover client for trackr: several backends, one API (sync and async, on httpx).

from trackr_client import TrackrClient
with TrackrClient(["https://a.example", "https://b.example"], token=jwt) as client:
    product = client.create_product({...})      # safe to retry: Idempotency-Key added
    client.get_product(product.id)             # carries the write's consistency token
"""

from trackr_client.async_client import AsyncTrackrClient
from trackr_client.errors import AllBackendsUnavailable, ApiError, TrackrError
from trackr_client.models import PriceHistory, PricePoint, Product, ProductPage
from trackr_client.sync_client import TrackrClient

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
