/** Upload form unit tests that need no twine (the twine comparison is uploadForm.twine.test.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile, appendFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PyregError } from "../src/core/errors.js";
import { parseCoreMetadata } from "../src/core/metadata.js";
import type { LocalDist } from "../src/core/model.js";
import { buildUploadFields, multipartBody } from "../src/core/uploadForm.js";

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

function dist(path: string, filename: string, size: number): LocalDist {
  return { path, filename, size, sha256: "a".repeat(64), md5: "b".repeat(32), blake2_256: "c".repeat(64) };
}

test("multipartBody: exact Content-Length, UTF-8 values, the file streamed last, reopenable", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pyreg-form-"));
  try {
    const path = join(dir, "x-1.tar.gz");
    const bytes = Buffer.from([0, 1, 2, 255, 13, 10, 45, 45]);
    await writeFile(path, bytes);
    const file = dist(path, "x-1.tar.gz", bytes.length);
    const body = multipartBody(
      [
        ["name", "x"],
        ["summary", "ünïcödé ✓"],
      ],
      file,
    );
    const boundary = /boundary=([0-9a-f]{32})$/.exec(body.contentType)?.[1];
    assert.ok(boundary, body.contentType);
    const a = await collect(body.open());
    const b = await collect(body.open());
    assert.equal(a.length, body.contentLength);
    assert.ok(a.equals(b), "each open() streams the same body");
    const text = a.toString("latin1");
    assert.ok(a.includes(Buffer.from('name="summary"\r\n\r\nünïcödé ✓\r\n', "utf8")));
    assert.ok(
      text.includes(
        `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="x-1.tar.gz"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
    );
    assert.ok(
      a
        .subarray(a.length - bytes.length - boundary.length - 8)
        .subarray(0, bytes.length)
        .equals(bytes),
    );
    assert.ok(text.endsWith(`\r\n--${boundary}--\r\n`));
    assert.notEqual(multipartBody([], file).contentType, body.contentType, "a random boundary per body");

    // The file grows after its size was taken: the promised Content-Length would be a lie.
    await appendFile(path, "more");
    await assert.rejects(
      collect(body.open()),
      (e: unknown) => e instanceof PyregError && /changed/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("multipartBody: a file of several reads arrives whole, one read at a time; a file cut or grown on disk is not sent", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pyreg-form-"));
  try {
    const path = join(dir, "big-1.tar.gz");
    // Not a multiple of the read size, with a byte pattern that shows any reordering or repeat.
    const bytes = Buffer.alloc(2 * 256 * 1024 + 12345);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 11)) & 0xff;
    await writeFile(path, bytes);
    const file = dist(path, "big-1.tar.gz", bytes.length);
    const body = multipartBody([["name", "big"]], file);
    const chunks: Buffer[] = [];
    for await (const c of body.open()) chunks.push(Buffer.from(c));
    const all = Buffer.concat(chunks);
    assert.equal(all.length, body.contentLength);
    const start = all.indexOf(Buffer.from("application/octet-stream\r\n\r\n")) + 28;
    assert.ok(all.subarray(start, start + bytes.length).equals(bytes), "the file's bytes, in order");
    // head, three reads of the file, tail: no read-ahead, no chunk bigger than the read size.
    assert.equal(chunks.length, 5);
    assert.ok(chunks.every((c) => c.length <= 256 * 1024));

    // Cut on disk after it was verified: fewer bytes than promised are never sent as the file.
    await writeFile(path, bytes.subarray(0, bytes.length - 1));
    await assert.rejects(
      collect(body.open()),
      (e: unknown) => e instanceof PyregError && /no longer \d+ bytes/.test(e.message),
    );
    // Grown by one byte exactly at the end of the promised size.
    await writeFile(path, Buffer.concat([bytes, Buffer.from([1])]));
    await assert.rejects(
      collect(body.open()),
      (e: unknown) => e instanceof PyregError && /changed after it was verified/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("buildUploadFields: fields newer than the declared Metadata-Version are not sent", () => {
  const meta = parseCoreMetadata(
    "Metadata-Version: 2.1\nName: my_pkg\nVersion: 1.0\nLicense-File: LICENSE\nDynamic: Summary\nProvides-Extra: x\nSummary: UNKNOWN\n",
  );
  const fields = buildUploadFields(meta, dist("/nowhere", "my_pkg-1.0-py3-none-any.whl", 1));
  const keys = fields.map(([k]) => k);
  // setuptools writes License-File under 2.1; Warehouse refuses it there (twine 6 drops it too).
  assert.ok(!keys.includes("license_file"));
  assert.ok(!keys.includes("dynamic"));
  assert.deepEqual(
    fields.filter(([k]) => k === "provides_extra"),
    [["provides_extra", "x"]],
  );
  // twine's safe_name; UNKNOWN placeholders are sent empty, as pkginfo reads them.
  assert.deepEqual(fields[0], ["name", "my-pkg"]);
  assert.deepEqual(
    fields.find(([k]) => k === "summary"),
    ["summary", ""],
  );
  assert.throws(() => buildUploadFields(meta, dist("/nowhere", "not-a-dist.txt", 1)), PyregError);
});
