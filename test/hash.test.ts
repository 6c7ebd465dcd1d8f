import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MultiHash } from "../src/core/hash.js";
import { python3 } from "./helpers/tools.js";

/** The judge: Python's hashlib (BLAKE2b with a 32-byte digest, as twine computes it). */
function pythonDigests(paths: string[]): { sha256: string; md5: string; blake2_256: string }[] {
  const out = execFileSync(
    python3(),
    [
      "-c",
      "import hashlib,sys,json\n" +
        "print(json.dumps([{'sha256': hashlib.sha256(d).hexdigest(), 'md5': hashlib.md5(d).hexdigest(),\n" +
        "  'blake2_256': hashlib.blake2b(d, digest_size=32).hexdigest()}\n" +
        "  for d in (open(p, 'rb').read() for p in sys.argv[1:])]))",
      ...paths,
    ],
    { encoding: "utf8" },
  );
  return JSON.parse(out) as { sha256: string; md5: string; blake2_256: string }[];
}

test("MultiHash: interleaved, abandoned and reused hashers all give Python's digests", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pyreg-hash-"));
  try {
    const datas = [
      Buffer.alloc(0),
      randomBytes(1),
      randomBytes(200_000),
      randomBytes(70_001),
      randomBytes(5),
    ];
    const paths = datas.map((_, i) => join(dir, `d${i}`));
    await Promise.all(datas.map((d, i) => writeFile(paths[i] as string, d)));
    const want = pythonDigests(paths);

    for (let round = 0; round < 3; round++) {
      // Several at once, fed in small interleaved slices.
      const hashers = await Promise.all(datas.map(() => MultiHash.create()));
      // One abandoned half-way (a failed download) and one given back unused (serve's spare):
      // neither may leak its state into a hasher made later.
      const abandoned = await MultiHash.create();
      abandoned.update(randomBytes(1000));
      abandoned.release();
      (await MultiHash.create()).release();
      for (let off = 0; off < 200_000; off += 4096) {
        datas.forEach((d, i) => {
          if (off < d.length) hashers[i]?.update(d.subarray(off, off + 4096));
        });
      }
      hashers.forEach((h, i) => {
        const d = h.digest();
        assert.deepEqual(
          { sha256: d.sha256, md5: d.md5, blake2_256: d.blake2_256 },
          want[i],
          `round ${round}, data ${i}`,
        );
        assert.equal(d.size, datas[i]?.length);
      });
    }

    const only = MultiHash.sha256Only();
    only.update(datas[2] as Buffer);
    const d = only.digest();
    assert.equal(
      d.sha256,
      createHash("sha256")
        .update(datas[2] as Buffer)
        .digest("hex"),
    );
    assert.equal(d.md5, "");
    assert.equal(d.blake2_256, "");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
