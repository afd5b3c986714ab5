// Compiled and run in a directory that has only the packed @trackr/client installed:
// argv = token, killed backend URL, healthy backend URL. Prints what it saw as JSON.
import { AllBackendsUnavailable, type Product, TrackrClient } from "@trackr/client";

declare const process: { argv: string[] }; // no @types/node here: the package alone

const [token, killed, healthy] = process.argv.slice(2) as [string, string, string];
const api = new TrackrClient({ backends: [killed, healthy], token, timeoutMs: 2000 });
const created: Product = await api.createProduct({
  category: "games",
  name: "packed client",
  price: 19.99,
  attributes: { platform: "SNES", condition: "cib" },
});
const readBack = await api.getProduct(created.id);
let refused = "";
try {
  await new TrackrClient({ backends: [killed] }).health();
} catch (error) {
  if (error instanceof AllBackendsUnavailable) refused = error.errors[killed] ?? "";
}
console.log(
  JSON.stringify({
    same: JSON.stringify(readBack) === JSON.stringify(created),
    servedBy: api.lastServed?.backend,
    breaker: api.policy.backends[0]?.breaker.state,
    consistency: api.consistencyToken,
    refused,
  }),
);
