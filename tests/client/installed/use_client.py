"""Run inside a clean virtual environment with only the trackr-client wheel installed:
argv = token, killed backend URL, healthy backend URL. Prints what it saw as JSON."""

from __future__ import annotations

import json
import sys

from trackr_client import AllBackendsUnavailable, TrackrClient

token, killed, healthy = sys.argv[1:4]
product = {
    "category": "games",
    "name": "installed client",
    "price": 59.99,
    "attributes": {"platform": "Switch", "condition": "cib"},
}
with TrackrClient([killed, healthy], token=token, timeout=2.0) as api:
    created = api.create_product(product)
    read_back = api.get_product(created.id)
    breaker = api.policy.backends[0].breaker.state
    consistency = api.policy.consistency_token
try:
    with TrackrClient([killed], timeout=1.0) as dead:
        dead.health()
    refused = ""
except AllBackendsUnavailable as exc:
    refused = exc.errors[killed]
server_modules = sorted(
    name for name in ("app", "fastapi", "sqlalchemy", "asyncpg", "starlette") if name in sys.modules
)
print(json.dumps({
    "same": read_back == created,
    "price": str(read_back.price),
    "breaker": str(breaker),
    "consistency": consistency,
    "refused": refused,
    "server_modules": server_modules,
}))  # fmt: skip
