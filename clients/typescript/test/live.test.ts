/** The TypeScript client against three real backends: killed, hung (SIGSTOP) and healthy. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import {
  AllBackendsUnavailable,
  ApiError,
  type ClientOptions,
  lsnValue,
  TrackrClient,
} from "@trackr/client";

import { openapiTypes } from "../scripts/openapi-types.js";
import { frozen, MAC, startBackends, stopBackends, type Trio } from "./backends.js";

const TIMEOUT_MS = 1000; // what a hung backend costs the first request that meets it
let trio: Trio;

before(async () => {
  trio = await startBackends();
});
after(stopBackends);

function client(backends: string[], options: Partial<ClientOptions> = {}): TrackrClient {
  return new TrackrClient({ backends, token: trio.token, timeoutMs: TIMEOUT_MS, ...options });
}

function unique(name: string): string {
  return `${name} ${crypto.randomUUID().slice(0, 8)}`;
}

test("the committed types are what the running API publishes", async () => {
  const published = await (await fetch(`${trio.healthy}/openapi.json`)).json();
  const committed = await readFile(new URL("../../src/openapi.ts", import.meta.url), "utf8");
  assert.equal(
    await openapiTypes(published as object),
    committed,
    `src/openapi.ts is stale: npm run generate -- ${trio.healthy}/openapi.json`,
  );
});

test("writes, then reads that carry the consistency token", async () => {
  const api = client([trio.healthy]);
  const created = await api.createProduct({ ...MAC, name: unique("crud") });
  const first = api.consistencyToken;
  assert.ok(first !== null && lsnValue(first) !== null);
  assert.deepEqual(await api.getProduct(created.id), created);
  const updated = await api.updateProduct(
    created.id,
    { price: 1049 },
    { ifMatch: created.version },
  );
  assert.equal(updated.version, 2);
  assert.ok(lsnValue(api.consistencyToken!)! > lsnValue(first)!, "the newer write's position");
  const history = await api.priceHistory(created.id);
  assert.deepEqual(
    history.items.map((point) => point.price),
    [1049, 999],
  );
  const page = await api.listProducts({
    category: "mac",
    q: created.name,
    attributes: { chip: "M2" },
  });
  assert.deepEqual(
    page.items.map((item) => item.id),
    [created.id],
  );
  const stale = await api.updateProduct(created.id, { price: 1 }, { ifMatch: 1 }).catch((e) => e);
  assert.ok(stale instanceof ApiError);
  assert.equal(stale.status, 412);
  assert.equal(stale.backend, trio.healthy);
  await api.deleteProduct(created.id);
  const gone = await api.getProduct(created.id).catch((e) => e);
  assert.ok(gone instanceof ApiError && gone.status === 404, String(gone));
});

test("a killed backend is passed over, then skipped for its cool-down", async () => {
  const api = client([trio.killed, trio.healthy]);
  const product = await api.createProduct({ ...MAC, name: unique("killed") });
  assert.equal(api.lastServed?.backend, trio.healthy);
  assert.equal(api.policy.backends[0]!.breaker.state, "open");
  assert.match(api.policy.backends[0]!.breaker.lastError!, /ECONNREFUSED/);
  assert.equal((await api.getProduct(product.id)).id, product.id);
  assert.equal(api.lastServed?.backend, trio.healthy);
  assert.ok(api.lastServed?.node, "X-Served-By names the database node");
});

test("a hung backend costs one timeout, then is skipped", async () => {
  const product = await client([trio.healthy]).createProduct({ ...MAC, name: unique("hung") });
  await frozen(trio, async () => {
    const api = client([trio.hung, trio.healthy]);
    assert.equal((await api.getProduct(product.id)).id, product.id);
    assert.equal(api.lastServed?.backend, trio.healthy);
    assert.equal(api.policy.backends[0]!.breaker.state, "open");
    assert.match(api.policy.backends[0]!.breaker.lastError!, /TimeoutError/);
  });
});

test("a hedged read asks the next backend instead of waiting out the hung one", async () => {
  const product = await client([trio.healthy]).createProduct({ ...MAC, name: unique("hedged") });
  await frozen(trio, async () => {
    const api = client([trio.hung, trio.healthy], { timeoutMs: 30_000, hedgeAfterMs: 200 });
    const started = performance.now();
    assert.equal((await api.getProduct(product.id)).id, product.id);
    assert.equal(api.lastServed?.backend, trio.healthy);
    // Not a timing claim: without the hedge this read would wait the full 30 s timeout.
    assert.ok(performance.now() - started < 30_000);
    assert.equal(
      api.policy.backends[0]!.breaker.state,
      "closed",
      "the cancelled attempt is no failure",
    );
  });
});

test("forced retries of writes create exactly one row per key", async () => {
  const name = unique("retried");
  const keys = [crypto.randomUUID(), crypto.randomUUID()];
  const created = await frozen(trio, async () => {
    // The hung backend holds each write in its socket when the client gives up on it.
    const api = client([trio.hung, trio.healthy], { cooldownMs: 0 });
    return Promise.all(
      keys.map((key) => api.createProduct({ ...MAC, name }, { idempotencyKey: key })),
    );
  });
  await sleep(2000); // the thawed backend has processed the stale requests by now
  const again = await client([trio.killed, trio.healthy]).createProduct(
    { ...MAC, name },
    {
      idempotencyKey: keys[0]!,
    },
  );
  assert.equal(again.id, created[0]!.id, "the same key is a replay, not a new row");
  const rows = await client([trio.healthy]).listProducts({ q: name, limit: 10 });
  const ids = rows.items.map((item) => item.id).sort((a, b) => a - b);
  assert.deepEqual(
    ids,
    created.map((product) => product.id).sort((a, b) => a - b),
  );
});

test("a write without a key is not repeated once it may have run", async () => {
  const error = await frozen(trio, () =>
    client([trio.hung, trio.healthy], { autoIdempotency: false })
      .createProduct({ ...MAC, name: unique("unkeyed") })
      .catch((e: unknown) => e),
  );
  assert.ok(error instanceof AllBackendsUnavailable, String(error));
  assert.deepEqual(Object.keys(error.errors), [trio.hung]);
  assert.match(error.errors[trio.hung]!, /may have been applied/);
  // A refused connection never sent anything, so even an unkeyed write moves on.
  const api = client([trio.killed, trio.healthy], { autoIdempotency: false });
  const moved = await api.createProduct({ ...MAC, name: "moved on" });
  assert.equal(moved.name, "moved on");
});

test("with every backend down, the error names what each one did", async () => {
  const error = await frozen(trio, () =>
    client([trio.killed, trio.hung])
      .getProduct(1)
      .catch((e: unknown) => e),
  );
  assert.ok(error instanceof AllBackendsUnavailable, String(error));
  assert.deepEqual(Object.keys(error.errors).sort(), [trio.hung, trio.killed].sort());
  assert.match(error.errors[trio.killed]!, /ECONNREFUSED/);
  assert.match(error.errors[trio.hung]!, /TimeoutError/);
});
