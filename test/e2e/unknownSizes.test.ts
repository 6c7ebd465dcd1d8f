/**
 * Sizes an index does not give are shown as unknown, never as "0 B": a PEP 503 (HTML) index has no
 * sizes at all (PEP 691's JSON `size` came later; https://peps.python.org/pep-0700/), so plan's
 * summary, migrate's progress line and the report say "unknown" for them.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { startStaticIndex, type StaticIndex } from "../helpers/pep503.js";
import { tempDir } from "../helpers/tmp.js";

describe("an index without sizes", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let index: StaticIndex;

  before(async () => {
    tmp = await tempDir();
    const dists = join(tmp.path, "dists");
    await mkdir(dists);
    await makeWheel(dists, { name: "nosize-a", version: "1.0" });
    await makeWheel(dists, { name: "nosize-b", version: "2.0" });
    index = await startStaticIndex(dists);
  });
  after(async () => {
    await index?.close();
    await tmp?.cleanup();
  });

  test("plan, the progress line and the report say the size is unknown, never 0 B", async () => {
    const plan = await runCli(["plan", "--from", index.indexUrl, "--to", "./dst"], { cwd: tmp.path });
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /^plan: 2 to copy \(unknown size\)/m);

    // CI=true: plain progress lines; the last one is printed when the transfers end.
    const m = await runCli(["migrate", "--from", index.indexUrl, "--to", "./dst", "--state", "st"], {
      cwd: tmp.path,
    });
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /^migrate: 2 copied \(\d+(\.\d)? KiB\)/m, "the bytes copied are known once read");
    const progress = m.stderr.split("\n").filter((l) => l.startsWith("progress: "));
    assert.ok(progress.length > 0, m.stderr);
    for (const line of progress) {
      assert.doesNotMatch(line, /\/0 B\b/, line);
      assert.match(line, /unknown/, line);
    }
    const md = await readFile(join(tmp.path, "st", "report.md"), "utf8");
    const copied = md.split("\n").find((l) => l.startsWith("| copied "));
    assert.ok(copied, md);
    assert.doesNotMatch(copied, /\| 0 B \|/, copied);
  });
});
