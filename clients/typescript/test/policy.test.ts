/** The policy's rules on their own: real `Response` objects, no network. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { BackendBreaker, FailoverPolicy, lsnValue, newest } from "@trackr/client";

const URLS = ["http://render.example", "http://railway.example/"];

function problem(status: number, type: string): Response {
  return new Response(JSON.stringify({ type, title: "t", status }), {
    status,
    headers: { "content-type": "application/problem+json" },
  });
}

test("tokens compare as WAL positions, not as strings", () => {
  assert.ok(lsnValue("0/10")! > lsnValue("0/9")!);
  assert.ok(lsnValue("1/0")! > lsnValue("0/FFFFFFFF")!);
  assert.equal(newest("0/9", "0/10"), "0/10");
  assert.equal(newest("0/10", "0/9"), "0/10");
  assert.equal(newest("0/10", "garbage"), "0/10");
  assert.equal(newest(null, "A/1"), "A/1");
  assert.equal(lsnValue("1/2/3"), null);
});

test("a breaker skips its backend for the cool-down, then allows one trial", () => {
  let now = 0;
  const breaker = new BackendBreaker(1000, () => now);
  breaker.recordFailure("ECONNREFUSED");
  assert.equal(breaker.allow(), false);
  now = 1000;
  assert.equal(breaker.allow(), true);
  assert.equal(breaker.state, "half_open");
  assert.equal(breaker.allow(), false, "one trial at a time");
  breaker.recordSuccess();
  assert.equal(breaker.allow(), true);
});

test("every attempt of a write carries one key; reads carry the newest token", async () => {
  const policy = new FailoverPolicy(URLS, 30_000);
  const write = policy.prepare({ method: "POST", path: "/api/products", headers: {} });
  const key = write.headers["Idempotency-Key"];
  assert.match(key ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(policy.prepare(write).headers["Idempotency-Key"], key);
  assert.equal(
    policy.prepare({ method: "GET", path: "/", headers: {} }).headers["X-Consistency-Token"],
    undefined,
  );
  await policy.judgeResponse(
    policy.backends[0]!,
    write,
    new Response("{}", { status: 201, headers: { "X-Consistency-Token": "0/20" } }),
  );
  await policy.judgeResponse(
    policy.backends[0]!,
    write,
    new Response("{}", { status: 201, headers: { "X-Consistency-Token": "0/1F" } }),
  );
  const read = policy.prepare({ method: "GET", path: "/api/products/1", headers: {} });
  assert.equal(read.headers["X-Consistency-Token"], "0/20");
  const unkeyed = new FailoverPolicy(URLS, 30_000, false);
  assert.equal(
    unkeyed.prepare({ method: "POST", path: "/", headers: {} }).headers["Idempotency-Key"],
    undefined,
  );
});

test("a write with no writer anywhere moves on without blaming the backend", async () => {
  const policy = new FailoverPolicy(URLS, 30_000);
  const [render] = policy.backends;
  const write = policy.prepare({ method: "POST", path: "/api/products", headers: {} });
  const verdict = await policy.judgeResponse(
    render!,
    write,
    problem(503, "/problems/primary-unavailable"),
  );
  assert.ok("failed" in verdict && verdict.movesOn);
  assert.equal(render!.breaker.state, "closed", "it still serves reads");
  assert.deepEqual(
    policy.candidates().map((b) => b.url),
    ["http://render.example", "http://railway.example"],
  );
});

test("a cut-off site is left for the cool-down; all open means try all", async () => {
  const policy = new FailoverPolicy(URLS, 30_000);
  const [render, railway] = policy.backends;
  const read = { method: "GET", path: "/api/products/1", headers: {} };
  await policy.judgeResponse(render!, read, problem(503, "/problems/site-cut-off"));
  assert.deepEqual(policy.candidates(), [railway]);
  policy.judgeError(
    railway!,
    read,
    new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }),
  );
  assert.deepEqual(policy.candidates(), [render, railway]);
});

test("what may have run moves on only when repeating it is safe", () => {
  const policy = new FailoverPolicy(URLS, 30_000, false);
  const [render] = policy.backends;
  const timeout = new DOMException("The operation was aborted due to timeout", "TimeoutError");
  const unkeyed = { method: "POST", path: "/api/products", headers: {} };
  assert.equal(policy.judgeError(render!, unkeyed, timeout).movesOn, false);
  const keyed = { ...unkeyed, headers: { "Idempotency-Key": "k" } };
  assert.equal(policy.judgeError(render!, keyed, timeout).movesOn, true);
  const refused = new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
  assert.equal(policy.judgeError(render!, unkeyed, refused).movesOn, true, "never sent");
  const browser = new TypeError("Failed to fetch"); // a browser cannot tell refused from dropped
  assert.equal(policy.judgeError(render!, unkeyed, browser).movesOn, false);
  assert.throws(() => policy.judgeError(render!, unkeyed, new DOMException("stop", "AbortError")));
});

test("a 4xx is the caller's problem: thrown, never retried", async () => {
  const policy = new FailoverPolicy(URLS, 30_000);
  const read = { method: "GET", path: "/api/products/9", headers: {} };
  await assert.rejects(
    policy.judgeResponse(policy.backends[0]!, read, problem(404, "/problems/not-found")),
    {
      name: "ApiError",
      status: 404,
      backend: "http://render.example",
    },
  );
});
