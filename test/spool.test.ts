import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { Spool } from "../src/core/spool.js";

const spoolFolders = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith("pyreg-spool-"));

test("a spool gives back every item in order, across many write batches, and more than once", () => {
  const before = spoolFolders();
  const spool = new Spool<{ i: number; text: string }>();
  // About 6 MiB of lines: several write batches and read chunks, with lines cut at chunk ends.
  const n = 60_000;
  for (let i = 0; i < n; i++) spool.push({ i, text: `é${"x".repeat(i % 200)}\n"quoted"` });
  assert.equal(spool.length, n);
  for (let pass = 0; pass < 2; pass++) {
    let k = 0;
    for (const item of spool.items()) {
      assert.equal(item.i, k);
      assert.equal(item.text, `é${"x".repeat(k % 200)}\n"quoted"`);
      k++;
    }
    assert.equal(k, n);
  }
  // The file was unlinked as soon as it was opened: nothing shows in the temporary folder.
  assert.deepEqual(spoolFolders(), before);
  spool.close();
});

test("a small spool stays in memory and an empty one gives nothing", () => {
  const spool = new Spool<number>();
  assert.deepEqual([...spool.items()], []);
  spool.push(1);
  spool.push(2);
  assert.deepEqual([...spool.items()], [1, 2]);
  spool.close();
});
