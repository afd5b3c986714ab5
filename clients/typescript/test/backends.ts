/**
 * Three real `trackr serve` backends on a real test cluster: killed (connection refused),
 * hung (SIGSTOPped on demand: accepts connections, never answers) and healthy.
 *
 * `make test` starts them and passes them in TRACKR_TEST_BACKENDS; `npm test` on its own
 * starts them with the repository's Python environment (`python -m tests.client.serve_trio`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface Trio {
  killed: string;
  hung: string;
  healthy: string;
  hungPid: number;
  token: string;
  frontendOrigin: string;
}

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
let server: ChildProcess | undefined;

export async function startBackends(): Promise<Trio> {
  const given = process.env.TRACKR_TEST_BACKENDS;
  if (given) return JSON.parse(given) as Trio;
  const python = `${REPO}.venv/bin/python`;
  if (!existsSync(python)) throw new Error(`no ${python}: run \`make setup\` in ${REPO} first`);
  server = spawn(python, ["-m", "tests.client.serve_trio"], {
    cwd: REPO,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: server.stdout! });
  const [line] = (await Promise.race([
    once(lines, "line"),
    once(server, "exit").then(([code]) => {
      throw new Error(`tests.client.serve_trio exited with ${String(code)}`);
    }),
  ])) as [string];
  return JSON.parse(line) as Trio;
}

export async function stopBackends(): Promise<void> {
  if (server === undefined) return;
  const exited = once(server, "exit");
  server.stdin!.end(); // the helper stops its backends and cluster when its stdin closes
  await exited;
}

/** Run `body` with the hung backend SIGSTOPped, and thaw it after. */
export async function frozen<T>(trio: Trio, body: () => Promise<T>): Promise<T> {
  process.kill(trio.hungPid, "SIGSTOP");
  try {
    return await body();
  } finally {
    process.kill(trio.hungPid, "SIGCONT");
  }
}

export const MAC = {
  category: "mac",
  name: "ts client test",
  price: 999,
  attributes: { model: "Mac mini", chip: "M2", year: 2023, ram_gb: 8 },
} as const;
