/** Consistency tokens: PostgreSQL WAL positions ("16/B374D848"), compared as numbers. */

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** The WAL position as a bigint, or null when `token` is not one. */
export function lsnValue(token: string): bigint | null {
  const match = LSN.exec(token.trim());
  if (match === null) return null;
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** The newer of two tokens; a malformed `seen` is ignored. */
export function newest(current: string | null, seen: string | null): string | null {
  if (!seen) return current;
  const value = lsnValue(seen);
  if (value === null) return current;
  if (current === null) return seen;
  const known = lsnValue(current);
  return known === null || value > known ? seen : current;
}
