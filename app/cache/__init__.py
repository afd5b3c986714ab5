"""The read cache: responses of the product reads kept in memory (and in Redis when
CACHE_URL is set), each stamped with a WAL position so a read carrying a consistency token is
served from it only when the entry is at least as new as the token."""
