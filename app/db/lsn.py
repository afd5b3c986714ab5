"""PostgreSQL WAL positions ("16/B374D848") as integers, for lag maths and consistency tokens."""

import re

LSN_PATTERN = r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$"
_LSN = re.compile(LSN_PATTERN)


def parse_lsn(text: str) -> int:
    match = _LSN.match(text.strip())
    if match is None:
        raise ValueError(f"not a WAL position: {text!r}")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"
