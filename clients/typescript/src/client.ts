/**
 * `TrackrClient`: trackr's product API over several backends, for browsers and Node.js 20+.
 * See `policy.ts` for what moves on to the next backend and when.
 */

import type {
  Category,
  PriceHistory,
  Product,
  ProductCreate,
  ProductPage,
  ProductQuery,
  ProductUpdate,
} from "./models.js";
import {
  Attempts,
  type Backend,
  type Call,
  FailoverPolicy,
  type Failure,
  IDEMPOTENCY_HEADER,
  isFailure,
  type QueryValue,
  SERVED_BY_HEADER,
} from "./policy.js";

export interface ClientOptions {
  /** Backend base URLs in priority order, e.g. Render, Railway, Fly.io. */
  backends: readonly string[];
  /** A JWT for writes, sent as `Authorization: Bearer …`. */
  token?: string;
  /** How long one attempt may take before the next backend is tried (default 5000). */
  timeoutMs?: number;
  /** How long a failed backend is skipped (default 30000). */
  cooldownMs?: number;
  /** Add an `Idempotency-Key` to every write, which makes writes safe to retry (default true). */
  autoIdempotency?: boolean;
  /** Reads only: with no answer after this long, also ask the next backend; first answer wins. */
  hedgeAfterMs?: number;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

/** Who answered a request. */
export interface ServedBy {
  /** The backend base URL that answered. */
  backend: string;
  /** Its `X-Served-By` header: the database node that served (e.g. `replica-1`, `primary`). */
  node: string | null;
  status: number;
  /** The newest consistency token the client holds after this request. */
  consistencyToken: string | null;
}

export interface Served<T> extends ServedBy {
  data: T;
}

export interface RequestOptions {
  query?: Readonly<Record<string, QueryValue>>;
  body?: unknown;
  headers?: Readonly<Record<string, string>>;
  /** Aborts every attempt (the `AbortError` is thrown as is). */
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** Your own key (for a retry across page loads, say); else the client makes one. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

/** What an attempt ended with; an exception to rethrow is wrapped, so that no attempt's
 * promise ever rejects (a rejection nobody awaits any more would crash Node). */
type Verdict = Response | Failure | { thrown: unknown };

interface Attempt {
  backend: Backend;
  outcome: Promise<Verdict>;
  abort: AbortController;
}

export class TrackrClient {
  readonly policy: FailoverPolicy;
  /** Who answered the latest request that succeeded. */
  lastServed: ServedBy | null = null;
  private readonly timeoutMs: number;
  private readonly hedgeAfterMs: number | undefined;
  private readonly token: string | undefined;
  private readonly fetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.policy = new FailoverPolicy(
      options.backends,
      options.cooldownMs ?? 30_000,
      options.autoIdempotency ?? true,
    );
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.hedgeAfterMs = options.hedgeAfterMs;
    this.token = options.token;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The newest consistency token seen; reads carry it (read-your-writes on any backend). */
  get consistencyToken(): string | null {
    return this.policy.consistencyToken;
  }

  /** Any API request through the failover policy; the parsed JSON body and who served it. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<Served<T>> {
    const call = this.policy.prepare({
      method: method.toUpperCase(),
      path,
      headers: { ...options.headers },
      ...(options.query === undefined ? {} : { query: options.query }),
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    const { backend, response } = await this.run(call, options.signal);
    const text = await response.text();
    const served: ServedBy = {
      backend: backend.url,
      node: response.headers.get(SERVED_BY_HEADER),
      status: response.status,
      consistencyToken: this.policy.consistencyToken,
    };
    this.lastServed = served;
    return { ...served, data: (text ? JSON.parse(text) : undefined) as T };
  }

  private async run(
    call: Call,
    signal?: AbortSignal,
  ): Promise<{ backend: Backend; response: Response }> {
    const attempts = new Attempts();
    const waiting = this.policy.candidates();
    const hedge = call.method === "GET" ? this.hedgeAfterMs : undefined;
    const running = new Set<Attempt>();
    const launch = (): void => {
      const backend = waiting.shift();
      if (backend !== undefined) running.add(this.attempt(backend, call, signal));
    };
    launch();
    try {
      while (running.size > 0) {
        const next = await firstSettled(running, waiting.length > 0 ? hedge : undefined);
        if (next === null) {
          launch(); // the hedge delay passed with no answer: ask the next backend too
          continue;
        }
        running.delete(next.attempt);
        const { verdict } = next;
        if ("thrown" in verdict) throw verdict.thrown;
        if (!isFailure(verdict)) return { backend: next.attempt.backend, response: verdict };
        attempts.record(next.attempt.backend, verdict);
        if (running.size === 0) launch();
      }
      throw attempts.exhausted();
    } finally {
      for (const attempt of running) attempt.abort.abort();
    }
  }

  private attempt(backend: Backend, call: Call, signal?: AbortSignal): Attempt {
    const abort = new AbortController();
    const signals = [abort.signal, AbortSignal.timeout(this.timeoutMs)];
    if (signal !== undefined) signals.push(signal);
    const outcome = this.send(backend, call, AbortSignal.any(signals))
      .then(
        (response) => this.policy.judgeResponse(backend, call, response),
        (error: unknown): Failure => {
          // A losing hedge, cancelled by the client: not the backend's failure.
          if (abort.signal.aborted)
            return { failed: true, description: "cancelled", movesOn: true };
          return this.policy.judgeError(backend, call, error);
        },
      )
      .catch((thrown: unknown) => ({ thrown }));
    return { backend, outcome, abort };
  }

  private send(backend: Backend, call: Call, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...call.headers };
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (call.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(call.body);
    }
    return this.fetch(backend.url + call.path + queryString(call.query), {
      method: call.method,
      headers,
      signal,
      ...(body === undefined ? {} : { body }),
    });
  }

  // -- the API -----------------------------------------------------------------------------
  async listProducts(query: ProductQuery = {}, options: RequestOptions = {}): Promise<ProductPage> {
    const { attributes, ...plain } = query;
    const params: Record<string, QueryValue> = { ...plain };
    for (const [name, value] of Object.entries(attributes ?? {})) params[`attr.${name}`] = value;
    return (await this.request<ProductPage>("GET", "/api/products", { ...options, query: params }))
      .data;
  }

  async getProduct(id: number, options: RequestOptions = {}): Promise<Product> {
    return (await this.request<Product>("GET", `/api/products/${id}`, options)).data;
  }

  async priceHistory(
    id: number,
    limit?: number,
    options: RequestOptions = {},
  ): Promise<PriceHistory> {
    const query = limit === undefined ? {} : { limit };
    return (
      await this.request<PriceHistory>("GET", `/api/products/${id}/prices`, { ...options, query })
    ).data;
  }

  async categories(options: RequestOptions = {}): Promise<Category[]> {
    return (await this.request<Category[]>("GET", "/api/categories", options)).data;
  }

  async createProduct(product: ProductCreate, options: WriteOptions = {}): Promise<Product> {
    return (await this.request<Product>("POST", "/api/products", write(options, product))).data;
  }

  async updateProduct(
    id: number,
    patch: ProductUpdate,
    options: WriteOptions & { ifMatch?: number } = {},
  ): Promise<Product> {
    const request = write(options, patch);
    if (options.ifMatch !== undefined) {
      request.headers = { ...request.headers, "If-Match": `"${options.ifMatch}"` };
    }
    return (await this.request<Product>("PATCH", `/api/products/${id}`, request)).data;
  }

  async deleteProduct(id: number, options: WriteOptions = {}): Promise<void> {
    await this.request<undefined>("DELETE", `/api/products/${id}`, write(options));
  }

  async health(options: RequestOptions = {}): Promise<Record<string, unknown>> {
    return (await this.request<Record<string, unknown>>("GET", "/health", options)).data;
  }
}

function write(options: WriteOptions, body?: unknown): RequestOptions {
  const request: RequestOptions = {};
  if (options.idempotencyKey !== undefined) {
    request.headers = { [IDEMPOTENCY_HEADER]: options.idempotencyKey };
  }
  if (options.signal !== undefined) request.signal = options.signal;
  if (body !== undefined) request.body = body;
  return request;
}

function queryString(query: Readonly<Record<string, QueryValue>> | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null) params.append(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The first attempt to settle, or null when `waitMs` passes first. */
async function firstSettled(
  running: ReadonlySet<Attempt>,
  waitMs: number | undefined,
): Promise<{ attempt: Attempt; verdict: Verdict } | null> {
  const answers = [...running].map((attempt) =>
    attempt.outcome.then((verdict) => ({ attempt, verdict })),
  );
  if (waitMs === undefined) return Promise.race(answers);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), waitMs);
  });
  try {
    return await Promise.race([...answers, waited]);
  } finally {
    clearTimeout(timer);
  }
}
