/**
 * Soak: a few thousand small real files, migrated through two fault proxies that break
 * 20% of all requests at random (seeded, so a failure is reproducible). The migration must finish
 * (a second run is allowed: it is the documented way to finish after failures) with the
 * destination equal to the source and no file reaching the registry twice.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { makeSdist, makeWheel } from "../fixtures/dists.js";
import { FAST_RETRY_ARGS, startFaultProxy, type Fault, type FaultProxy } from "../fakes/faultProxy.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

const PROJECTS = 40;
const VERSIONS = 13; // a wheel and an sdist each: 1,040 files
const SEED = Number(process.env["PYREG_SOAK_SEED"] ?? 20260707);

/** The options without `--timeout N`. */
function withoutTimeout(args: readonly string[]): string[] {
  const i = args.indexOf("--timeout");
  return i < 0 ? [...args] : [...args.slice(0, i), ...args.slice(i + 2)];
}

const READ_FAULTS: Fault[] = [
  { kind: "status", status: 503 },
  { kind: "status", status: 502 },
  { kind: "status", status: 429, headers: { "retry-after": "0" } },
  { kind: "reset" },
  { kind: "reset-mid-body" },
  { kind: "truncate", contentLength: "original" },
  { kind: "truncate", contentLength: "chunked" },
  { kind: "truncate", contentLength: "none" },
  { kind: "wrong-length", delta: -5 },
  { kind: "wrong-length", delta: 5 },
];
const UPLOAD_FAULTS: Fault[] = [
  { kind: "status", status: 503 },
  { kind: "reset" },
  { kind: "reset-after-forward" },
];

describe("soak: 1,040 files, 20% of requests faulted", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let src: ServeHandle;
  let dst: ServeHandle;
  let srcProxy: FaultProxy;
  let dstProxy: FaultProxy;
  let srcDir: string;
  let dstDir: string;

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    dstDir = join(tmp.path, "dst");
    await mkdir(srcDir);
    for (let p = 0; p < PROJECTS; p++) {
      for (let v = 0; v < VERSIONS; v++) {
        await makeWheel(srcDir, { name: `soak-${p}`, version: `1.${v}` });
        await makeSdist(srcDir, { name: `soak-${p}`, version: `1.${v}` });
      }
    }
    src = await startServe(srcDir);
    dst = await startServe(dstDir);
    srcProxy = await startFaultProxy({
      target: src.url,
      seed: SEED,
      rules: [{ probability: 0.2, fault: READ_FAULTS }],
    });
    dstProxy = await startFaultProxy({
      target: dst.url,
      seed: SEED + 1,
      rules: [
        { method: "POST", probability: 0.2, fault: UPLOAD_FAULTS },
        { method: "GET", probability: 0.2, fault: READ_FAULTS },
      ],
    });
  });
  after(async () => {
    await srcProxy.close();
    await dstProxy.close();
    await src.close();
    await dst.close();
    await tmp.cleanup();
  });

  test(
    "completes with the destination equal to the source, nothing uploaded twice",
    { timeout: 240_000 },
    async () => {
      const files = PROJECTS * VERSIONS * 2;
      const args = [
        "migrate",
        "--from",
        srcProxy.indexUrl,
        "--to",
        dstProxy.url,
        "--json",
        "-q",
        "--concurrency",
        "16",
        "--state",
        join(tmp.path, "state"),
        // Short pauses, but the default request timeout: on a loaded machine a 2 s timeout would
        // turn slowness into failed files and re-sent uploads, and the counts below would depend
        // on the machine's speed. The faults here are answers and resets, never stalls.
        ...withoutTimeout(FAST_RETRY_ARGS),
      ];
      const runs: { code: number | null; copied: number; skipped: number; failed: number }[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await runCli(i === 0 ? args : [...args, "--retry-failed"], {
          cwd: tmp.path,
          timeoutMs: 200_000,
        });
        let counts: { copied: number; skipped: number; failed: number } = {
          copied: 0,
          skipped: 0,
          failed: 0,
        };
        try {
          counts = (JSON.parse(r.stdout) as { counts: typeof counts }).counts;
        } catch {
          // a run stopped by a fatal error prints no JSON; the next run goes on
        }
        runs.push({ code: r.code, ...counts });
        const reasons = new Map<string, number>();
        try {
          const out = JSON.parse(r.stdout) as {
            outcomes: { outcome: string; code?: string; reason?: string }[];
          };
          for (const o of out.outcomes.filter((x) => x.outcome === "failed")) {
            const k = `${o.code}: ${(o.reason ?? "").replace(/\d+/g, "N").slice(0, 120)}`;
            reasons.set(k, (reasons.get(k) ?? 0) + 1);
          }
        } catch {
          reasons.set(r.stderr.split("\n").slice(-25).join("\n"), 1);
        }
        if (reasons.size)
          process.stderr.write(`soak run ${i + 1} failures: ${JSON.stringify([...reasons])}\n`);
        if (r.code === 0) break;
      }
      const faults = srcProxy.faulted + dstProxy.faulted;
      const requests = srcProxy.log.length + dstProxy.log.length;
      process.stderr.write(
        `soak: seed ${SEED}, ${requests} requests, ${faults} faulted (${Math.round((100 * faults) / requests)}%), runs ${JSON.stringify(runs)}\n`,
      );
      assert.ok(faults / requests > 0.15, "about 20% of requests were faulted");
      assert.equal(runs[runs.length - 1]?.code, 0, `finished: ${JSON.stringify(runs)}`);
      assert.ok(runs.length <= 2, `finished within a second run: ${JSON.stringify(runs)}`);

      // The destination equals the source, byte for byte.
      const want = await folderDigests(srcDir);
      const got = await folderDigests(dstDir);
      assert.equal(got.size, files);
      assert.deepEqual([...got.entries()].sort(), [...want.entries()].sort());
      const v = await runCli(["verify", "--from", src.indexUrl, "--to", dst.url, "--concurrency", "16"], {
        cwd: tmp.path,
      });
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.stdout, new RegExp(`${files} of ${files} files`));

      // Each file stored exactly once, by the registry's own record (pyreg serve stores a
      // filename once; the same bytes again are a no-op it does not count).
      assert.equal(dst.server.uploads, files);
      const stored = dstProxy.uploads.filter((u) => u.status >= 200 && u.status < 300).map((u) => u.name);
      assert.equal(new Set(stored).size, files, "the registry accepted every file");
      // pyreg never sends a file again once the registry told it the file was stored. (A file
      // whose answer was cut, by a fault, may be sent again after the index did not show it.)
      const told = new Set<string>();
      const resentAfterSuccess: string[] = [];
      for (const u of dstProxy.uploads) {
        if (told.has(u.name)) resentAfterSuccess.push(u.name);
        if (u.toldStored) told.add(u.name);
      }
      assert.deepEqual(resentAfterSuccess, [], "no upload re-sent after a success was received");
      const names = dstProxy.uploadedNames;
      const dupes = names.filter((n, i) => names.indexOf(n) !== i);
      assert.deepEqual(dupes, [], "no upload reached the registry twice");
    },
  );
});
