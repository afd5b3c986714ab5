/**
 * @trackr/client: trackr's API over several backends, trying them in turn.
 *
 *   const api = new TrackrClient({ backends: [render, railway, fly], token });
 *   const product = await api.createProduct({...});  // one Idempotency-Key for every attempt
 *   await api.getProduct(product.id);                 // carries the write's consistency token
 */

export { BackendBreaker, type BreakerState } from "./breaker.js";
export {
  type ClientOptions,
  type RequestOptions,
  type Served,
  type ServedBy,
  TrackrClient,
  type WriteOptions,
} from "./client.js";
export { lsnValue, newest } from "./consistency.js";
export { AllBackendsUnavailable, ApiError, type Problem, TrackrError } from "./errors.js";
export type * from "./models.js";
export type { components, paths } from "./openapi.js";
export { FailoverPolicy } from "./policy.js";
