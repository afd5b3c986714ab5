/** The client's types from trackr's OpenAPI document, as `src/openapi.ts` commits them. */
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from "openapi-typescript";

const HEADER = `${COMMENT_HEADER.trimEnd()}
// Regenerate from a running trackr: npm run generate -- http://127.0.0.1:8000/openapi.json

`;

export async function openapiTypes(document: object): Promise<string> {
  const nodes = await openapiTS(document as OpenAPI3, {
    alphabetize: true,
    defaultNonNullable: false,
  });
  return HEADER + astToString(nodes);
}
