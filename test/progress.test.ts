/**
 * The live progress line tells the truth from the first second: the in-flight count never passes
 * --concurrency (a file waiting for its project's verification holds no slot), and the rate and
 * ETA count from the start of the transfers, shown only once enough is measured.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Progress } from "../src/cli/progress.js";
import type { DistFile } from "../src/core/model.js";

const wheel = (name: string, size: number): DistFile => ({
  project: "p",
  version: "1.0",
  filename: name,
  url: `http://x/${name}`,
  hashes: {},
  size,
});

function liveProgress(clock: { t: number }): { p: Progress; last: () => string } {
  const out: string[] = [];
  const fake = {
    isTTY: true,
    columns: 200,
    write(chunk: string): boolean {
      out.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const p = new Progress({ quiet: true, mode: "live", stream: fake, now: () => clock.t });
  const last = (): string => {
    fake.write("tick\n"); // any complete line makes the live line redraw
    return (out[out.length - 1] ?? "").replace("\r\x1b[2K", "");
  };
  return { p, last };
}

test("in flight never above the concurrency: uploaded files waiting for verification hold no slot", () => {
  const clock = { t: 0 };
  const { p, last } = liveProgress(clock);
  const files = Array.from({ length: 16 }, (_, i) => wheel(`f${i}.whl`, 100));
  p.onEvent({ type: "start", files: 16, bytes: 1600, unknownSizes: 0 });
  // Concurrency 8: eight files transfer, are uploaded (their slots freed), eight more start,
  // and the project's verification (the outcomes) comes after all of them.
  for (const f of files.slice(0, 8)) p.onEvent({ type: "file-start", file: f });
  for (const f of files.slice(0, 8)) p.onEvent({ type: "uploaded", file: f });
  for (const f of files.slice(8)) p.onEvent({ type: "file-start", file: f });
  assert.match(last(), /, 8 in flight$/);
  for (const f of files.slice(8)) p.onEvent({ type: "uploaded", file: f });
  for (const f of files)
    p.onEvent({ type: "outcome", outcome: { kind: "copied", file: f, bytes: 100, seconds: 1 } });
  assert.match(last(), /^pyreg: 16\/16 files/);
  assert.doesNotMatch(last(), /in flight/);
  p.stop();
});

test("rate and ETA count from the start of the transfers; no ETA before enough is measured", () => {
  const clock = { t: 0 };
  const { p, last } = liveProgress(clock);
  const [a, b] = [wheel("a.whl", 4096), wheel("b.whl", 4096)];
  clock.t = 60_000; // a minute reading the indexes
  p.onEvent({ type: "start", files: 2, bytes: 8192, unknownSizes: 0 });
  p.onEvent({ type: "file-start", file: a });
  p.onEvent({ type: "file-start", file: b });
  clock.t = 61_000;
  p.onEvent({ type: "bytes", file: a, bytes: 2048 });
  assert.doesNotMatch(last(), /ETA/, "no ETA after one second");
  clock.t = 64_000;
  p.onEvent({ type: "bytes", file: a, bytes: 2048 });
  p.onEvent({ type: "uploaded", file: a });
  p.onEvent({ type: "outcome", outcome: { kind: "copied", file: a, bytes: 4096, seconds: 4 } });
  // 4 KiB in the 4 s since the transfers started: 1 KiB/s, 4 KiB left, so 4 s (not 60 s).
  assert.match(last(), /^pyreg: 1\/2 files, 4\.0 KiB\/8\.0 KiB, 1\.0 KiB\/s, ETA 4s, 1 in flight$/);
  p.stop();
});

test("a download fetched again counts its bytes once; a file the run stopped on leaves the in-flight count", () => {
  const clock = { t: 0 };
  const { p, last } = liveProgress(clock);
  const [a, b] = [wheel("a.whl", 4096), wheel("b.whl", 4096)];
  p.onEvent({ type: "start", files: 2, bytes: 8192, unknownSizes: 0 });
  p.onEvent({ type: "file-start", file: a });
  p.onEvent({ type: "file-start", file: b });
  p.onEvent({ type: "bytes", file: a, bytes: 3000 });
  // Cut short: fetched again from the start.
  p.onEvent({ type: "retry", stage: "download", file: a, reason: "connection reset" });
  p.onEvent({ type: "bytes", file: a, bytes: 4096 });
  clock.t = 4000;
  p.onEvent({ type: "uploaded", file: a });
  p.onEvent({ type: "outcome", outcome: { kind: "copied", file: a, bytes: 4096, seconds: 4 } });
  assert.match(last(), /^pyreg: 1\/2 files, 4\.0 KiB\/8\.0 KiB, 1\.0 KiB\/s, ETA 4s, 1 in flight$/);
  // The destination refuses the credentials: b was not stored and nothing is in flight any more.
  p.onEvent({ type: "unsent", file: b, reason: "401" });
  assert.doesNotMatch(last(), /in flight/);
  p.stop();
});

test("sizes the index does not give: the total says unknown and the ETA goes by files", () => {
  const clock = { t: 0 };
  const { p, last } = liveProgress(clock);
  const files = ["a.whl", "b.whl", "c.whl", "d.whl"].map((n) => ({ ...wheel(n, 0), size: undefined }));
  p.onEvent({ type: "start", files: 4, bytes: 0, unknownSizes: 4 });
  for (const f of files) p.onEvent({ type: "file-start", file: f });
  clock.t = 3000;
  p.onEvent({ type: "bytes", file: files[0] as DistFile, bytes: 3072 });
  p.onEvent({ type: "uploaded", file: files[0] as DistFile });
  p.onEvent({
    type: "outcome",
    outcome: { kind: "copied", file: files[0] as DistFile, bytes: 3072, seconds: 3 },
  });
  // One file in 3 s, three left: 9 s.
  assert.match(
    last(),
    /^pyreg: 1\/4 files, 3\.0 KiB \(total size unknown\), 1\.0 KiB\/s, ETA 9s, 3 in flight$/,
  );
  p.stop();
});
