/**
 * pyreg takes undici's Agent, Pool and ProxyAgent from their own modules (src/http/undici.ts), so
 * that a pyreg process does not load the rest of undici at start-up. These are undici's classes,
 * with the request methods undici's index gives every dispatcher; and the CLI's bundle, once
 * loaded, has not made Node.js load its own copy of undici (which undici's index brings in, by
 * reading `globalThis.Headers`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./helpers/cli.js";

test("Agent, Pool and ProxyAgent are undici's own, each with request and connect", async () => {
  const parts = await import("../src/http/undici.js");
  // Before undici's index is loaded here (it gives every dispatcher these methods as well).
  for (const name of ["request", "stream", "pipeline", "upgrade", "connect"] as const)
    assert.equal(typeof parts.Agent.prototype[name], "function", name);
  const undici = await import("undici");
  assert.equal(parts.Agent, undici.Agent);
  assert.equal(parts.Pool, undici.Pool);
  assert.equal(parts.ProxyAgent, undici.ProxyAgent);
});

test("the CLI's bundle, once loaded, has not made Node.js load its own bundled undici", () => {
  const bundle = join(REPO_ROOT, "dist", "src", "pyreg.cjs");
  // The script is only loaded: its `main` is what bin/pyreg calls.
  const script = `const m = require(${JSON.stringify(bundle)});
const loaded = process.moduleLoadList.filter((n) => n.includes("undici"));
process.stdout.write(JSON.stringify({ main: typeof m.main, loaded }));`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { main: "function", loaded: [] });
});
