/**
 * The fault proxy deals its seeded faults by request, not by arrival: the same seed gives the same
 * requests the same faults in any order and at any concurrency, so a failing soak seed replays.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startFaultProxy, type Fault } from "./fakes/faultProxy.js";

const FAULTS: Fault[] = [
  { kind: "status", status: 503 },
  { kind: "status", status: 502 },
  { kind: "status", status: 429, headers: { "retry-after": "0" } },
];

async function faultsSeen(seed: number, paths: string[], concurrent: boolean): Promise<Map<string, string>> {
  const backend = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const target = `http://127.0.0.1:${(backend.address() as AddressInfo).port}/`;
  const proxy = await startFaultProxy({ target, seed, rules: [{ probability: 0.5, fault: FAULTS }] });
  try {
    const get = async (p: string): Promise<void> => {
      // Each path twice: the second request of a path is drawn as its second attempt.
      for (let i = 0; i < 2; i++) await (await fetch(proxy.url + p)).text();
    };
    if (concurrent) await Promise.all(paths.map(get));
    else for (const p of paths) await get(p);
    const out = new Map<string, string>();
    for (const l of proxy.log) out.set(`${l.path} #${out.has(`${l.path} #1`) ? 2 : 1}`, l.fault ?? "-");
    return out;
  } finally {
    await proxy.close();
    await new Promise<void>((r) => backend.close(() => r()));
  }
}

test("a seed deals the same faults to the same requests, whatever their order or concurrency", async () => {
  const paths = Array.from({ length: 40 }, (_, i) => `simple/p${i}/`);
  const inOrder = await faultsSeen(7, paths, false);
  const reversed = await faultsSeen(7, [...paths].reverse(), true);
  assert.deepEqual([...reversed].sort(), [...inOrder].sort());
  const faulted = [...inOrder.values()].filter((f) => f !== "-").length;
  assert.ok(faulted > 20 && faulted < 60, `about half of 80 requests faulted (${faulted})`);
  const otherSeed = await faultsSeen(8, paths, false);
  assert.notDeepEqual([...otherSeed].sort(), [...inOrder].sort(), "another seed deals other faults");
});
