/**
 * The failover policy: which backend to try next, and when moving on is safe.
 *
 * - Backends are tried in priority order. One whose breaker is open (it failed recently) is
 *   skipped during its cool-down, then probed by a single request; if every breaker is open,
 *   all are tried anyway, since refusing to try is never better than trying.
 * - A request that never reached a backend (connection refused, unknown host) moves on always.
 * - One that may have been processed (timeout, dropped connection, 5xx) moves on only when
 *   repeating it is safe: reads, DELETE, and writes that carry an `Idempotency-Key` (the
 *   client adds one to every write unless told otherwise).
 *   A browser cannot tell a refused connection from a dropped one: there every network error
 *   counts as "may have been processed".
 * - A write refused because the cluster has no writer (503 `/problems/primary-unavailable`)
 *   moves on without counting against the backend: during a failover every site says the
 *   same, and that backend still serves reads. Any other 5xx counts.
 * - 4xx answers are the caller's problem: thrown as `ApiError`, never retried.
 * - The newest `X-Consistency-Token` seen (compared as WAL positions) goes with later reads.
 */

import { BackendBreaker } from "./breaker.js";
import { newest } from "./consistency.js";
import { AllBackendsUnavailable, ApiError, type Problem } from "./errors.js";

export const CONSISTENCY_HEADER = "X-Consistency-Token";
export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const SERVED_BY_HEADER = "X-Served-By";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "DELETE", "PUT"]);
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const UNAVAILABLE_STATUSES = new Set([500, 502, 503, 504]);
const NO_WRITER = "/problems/primary-unavailable";
// Node's (undici's) error codes for a request that never left: nothing was sent.
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

export type QueryValue = string | number | boolean | null | undefined;

/** One API request, independent of the backend that serves it. */
export interface Call {
  readonly method: string;
  readonly path: string;
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly body?: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Backend {
  readonly url: string;
  readonly breaker: BackendBreaker;
}

/** Why an attempt failed, and whether the next backend may be tried. */
export interface Failure {
  readonly failed: true;
  readonly description: string;
  readonly movesOn: boolean;
}

function failure(description: string, movesOn: boolean): Failure {
  return { failed: true, description, movesOn };
}

export function isFailure(value: unknown): value is Failure {
  return typeof value === "object" && value !== null && "failed" in value;
}

function retrySafe(call: Call): boolean {
  return SAFE_METHODS.has(call.method) || IDEMPOTENCY_HEADER in call.headers;
}

/** A fresh idempotency key: `crypto.randomUUID()` (browsers and Node). */
function newKey(): string {
  return globalThis.crypto.randomUUID();
}

export class FailoverPolicy {
  readonly backends: readonly Backend[];
  consistencyToken: string | null = null;

  constructor(
    urls: readonly string[],
    cooldownMs: number,
    readonly autoIdempotency = true,
  ) {
    if (urls.length === 0) throw new TypeError("give at least one backend URL");
    this.backends = urls.map((url) => ({
      url: url.replace(/\/+$/, ""),
      breaker: new BackendBreaker(cooldownMs),
    }));
  }

  /** The backends to try, in order: those whose breaker allows, else all of them. */
  candidates(): Backend[] {
    const allowed = this.backends.filter((backend) => backend.breaker.allow());
    return allowed.length > 0 ? allowed : [...this.backends];
  }

  /** The call as every backend gets it: the newest token on reads, and one key for all
   * attempts of a write (unless turned off or given). */
  prepare(call: Call): Call {
    const headers: Record<string, string> = { ...call.headers };
    if (call.method === "GET" && this.consistencyToken !== null) {
      headers[CONSISTENCY_HEADER] ??= this.consistencyToken;
    }
    if (WRITE_METHODS.has(call.method) && this.autoIdempotency) {
      headers[IDEMPOTENCY_HEADER] ??= newKey();
    }
    return { ...call, headers };
  }

  /** A network error or timeout: a `Failure` (the caller's own abort is rethrown). */
  judgeError(backend: Backend, call: Call, error: unknown): Failure {
    if (error instanceof Error && error.name === "AbortError") throw error;
    const code = errorCode(error);
    const description = describe(error, code);
    backend.breaker.recordFailure(description);
    return failure(description, NOT_SENT_CODES.has(code ?? "") || retrySafe(call));
  }

  /** The response to return, a `Failure` to record, or `ApiError` (thrown) for a 4xx. */
  async judgeResponse(
    backend: Backend,
    call: Call,
    response: Response,
  ): Promise<Response | Failure> {
    if (UNAVAILABLE_STATUSES.has(response.status)) {
      const problem = await readProblem(response);
      const noWriter = WRITE_METHODS.has(call.method) && problem.type === NO_WRITER;
      if (!noWriter) backend.breaker.recordFailure(`HTTP ${response.status}`);
      const why = problem.type ? ` ${problem.type}` : "";
      return failure(`HTTP ${response.status}${why}`, retrySafe(call));
    }
    backend.breaker.recordSuccess();
    if (response.status >= 400) {
      throw new ApiError(response.status, await readProblem(response), backend.url);
    }
    this.consistencyToken = newest(this.consistencyToken, response.headers.get(CONSISTENCY_HEADER));
    return response;
  }
}

/** What each backend did with one request, and when to give up. */
export class Attempts {
  readonly errors: Record<string, string> = {};

  record(backend: Backend, failed: Failure): void {
    const unsafe = failed.movesOn ? "" : " (may have been applied; not repeated elsewhere)";
    this.errors[backend.url] = failed.description + unsafe;
    if (!failed.movesOn) throw this.exhausted();
  }

  exhausted(): AllBackendsUnavailable {
    return new AllBackendsUnavailable({ ...this.errors });
  }
}

function errorCode(error: unknown): string | undefined {
  const cause =
    error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

function describe(error: unknown, code: string | undefined): string {
  if (!(error instanceof Error)) return String(error);
  if (code !== undefined) return `${code}: ${(error.cause as Error).message ?? error.message}`;
  return `${error.name}: ${error.message}`;
}

async function readProblem(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => "");
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === "object" && body !== null && !Array.isArray(body)) return body as Problem;
  } catch {
    // not JSON: a proxy's or platform's own error page
  }
  return { title: response.statusText, detail: text.slice(0, 200) };
}
