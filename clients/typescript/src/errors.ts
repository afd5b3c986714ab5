/** What the client throws: an API's answer (`ApiError`) or no backend at all. */

/** An RFC 9457 problem document, as every trackr error is. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: unknown[];
  [extension: string]: unknown;
}

export class TrackrError extends Error {
  override name = "TrackrError";
}

/** A backend answered with a client error (4xx): retrying elsewhere would not help. */
export class ApiError extends TrackrError {
  override name = "ApiError";

  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly backend: string,
  ) {
    super(`${status} from ${backend}: ${problem.detail ?? problem.title ?? "error"}`);
  }
}

/** Every backend failed, or was unsafe to retry; `errors` says what each one did. */
export class AllBackendsUnavailable extends TrackrError {
  override name = "AllBackendsUnavailable";

  constructor(readonly errors: Readonly<Record<string, string>>) {
    const listing = Object.entries(errors)
      .map(([backend, error]) => `${backend}: ${error}`)
      .join("; ");
    super(`no backend could serve the request (${listing})`);
  }
}
