/** The API's shapes, named: aliases into the types generated from trackr's OpenAPI. */
import type { components, paths } from "./openapi.js";

type Schemas = components["schemas"];

export type Product = Schemas["ProductOut"];
export type ProductPage = Schemas["ProductPage"];
export type ProductCreate = Schemas["ProductCreate"];
export type ProductUpdate = Schemas["ProductUpdate"];
export type PriceHistory = Schemas["PriceHistoryOut"];
export type PricePoint = Schemas["PricePoint"];
export type Category = Schemas["CategoryOut"];
export type CategoryName = Product["category"];

/** `GET /api/products` parameters, plus `attributes`: each sent as `attr.<name>=<value>`. */
export type ProductQuery = NonNullable<paths["/api/products"]["get"]["parameters"]["query"]> & {
  attributes?: Record<string, string | number | boolean>;
};
