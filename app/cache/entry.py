"""A cached response and its wire form in Redis."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class Entry:
    headers: Headers  # the inner app's own (content-type, content-length, ETag): status 200
    body: bytes
    stamp: int  # a WAL position the response is at least as new as (routing.ReadSession.stamp)
    stored_at: float  # wall clock (time.time()): entries travel between nodes through Redis
    served_by: str  # the node whose reads made it
    replica: bool  # a replica answered (some of) its reads: it may trail the primary

    @property
    def etag(self) -> str | None:
        return next((v.decode("latin-1") for k, v in self.headers if k == b"etag"), None)

    def pack(self) -> bytes:
        """Metadata as one JSON line, then the body as it is."""
        meta = {
            "s": self.stamp,
            "t": self.stored_at,
            "n": self.served_by,
            "r": self.replica,
            "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
        }
        return orjson.dumps(meta) + b"\n" + self.body

    @classmethod
    def unpack(cls, packed: bytes) -> Entry:
        meta_line, _, body = packed.partition(b"\n")
        meta = orjson.loads(meta_line)
        headers = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["h"])
        replica = bool(meta.get("r", True))  # written before the field: assume the worst
        return cls(headers, body, int(meta["s"]), float(meta["t"]), str(meta["n"]), replica)
