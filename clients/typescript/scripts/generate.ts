/** npm run generate -- <URL or file of trackr's /openapi.json> [output, default src/openapi.ts] */
import { readFile, writeFile } from "node:fs/promises";
import { argv, exit } from "node:process";

import { openapiTypes } from "./openapi-types.js";

const [source, output = "src/openapi.ts"] = argv.slice(2);
if (!source) {
  console.error("usage: npm run generate -- <URL or file of /openapi.json> [output]");
  exit(64);
}
const text = /^https?:\/\//.test(source)
  ? await (await fetch(source, { signal: AbortSignal.timeout(10_000) })).text()
  : await readFile(source, "utf8");
await writeFile(output, await openapiTypes(JSON.parse(text) as object));
console.log(`wrote ${output} from ${source}`);
