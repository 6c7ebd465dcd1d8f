/** Core metadata parsing and reading from real wheels and sdists (test/fixtures/dists.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { randomBytes } from "node:crypto";
import tar from "tar-stream";
import yazl from "yazl";
import {
  checkMetadataMatchesFilename,
  MAX_METADATA_BYTES,
  parseCoreMetadata,
  metadataFromFilename,
  readCoreMetadata,
} from "../src/core/metadata.js";
import { plainTarFile } from "../src/core/plainTar.js";
import { plainZipDirectory } from "../src/core/zipDirectory.js";
import { PyregError } from "../src/core/errors.js";
import { parseFilename, uploadFileType, type ParsedFilename } from "../src/core/names.js";
import {
  makeCorpus,
  makeEgg,
  makeInstaller,
  makeSdist,
  makeWheel,
  metadataText,
  type MetadataVersion,
} from "./fixtures/dists.js";

function rejectsWith(code: string, pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof PyregError, `expected a PyregError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    assert.ok(e.hint, "errors carry a hint");
    return true;
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "pyreg-meta-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function zipOf(entries: [string, string | Buffer][], compress = true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const zip = new yazl.ZipFile();
    for (const [n, d] of entries) zip.addBuffer(Buffer.from(d), n, { compress });
    const chunks: Buffer[] = [];
    zip.outputStream.on("data", (c: Buffer) => chunks.push(c));
    zip.outputStream.on("end", () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on("error", reject);
    zip.end();
  });
}

async function tarGzOf(entries: [string, string][]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    pack.on("data", (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on("end", () => resolve());
  });
  for (const [n, d] of entries) pack.entry({ name: n }, d);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

test("every Metadata-Version from 1.0 to 2.5 parses", () => {
  for (const mv of ["1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "2.5"] as MetadataVersion[]) {
    const m = parseCoreMetadata(
      metadataText({ name: "A.b", version: "1.0", metadataVersion: mv, summary: "s" }),
    );
    assert.equal(m.metadataVersion, mv);
    assert.equal(m.name, "A.b");
    assert.equal(m.version, "1.0");
    assert.deepEqual(m.fields.get("Summary"), ["s"]);
  }
  // 2.0 exists in the wild (it was never a spec) and a higher minor of a known major is read.
  assert.equal(parseCoreMetadata("Metadata-Version: 2.0\nName: a\nVersion: 1\n").metadataVersion, "2.0");
  assert.equal(parseCoreMetadata("Metadata-Version: 2.9\nName: a\nVersion: 1\n").metadataVersion, "2.9");
});

test("an unknown major Metadata-Version or a malformed one is BAD_METADATA", () => {
  assert.throws(
    () => parseCoreMetadata("Metadata-Version: 3.0\nName: a\nVersion: 1\n"),
    rejectsWith("BAD_METADATA", /unsupported Metadata-Version "3\.0"/),
  );
  assert.throws(
    () => parseCoreMetadata("Metadata-Version: two\nName: a\nVersion: 1\n"),
    rejectsWith("BAD_METADATA", /unsupported Metadata-Version/),
  );
});

test("a missing Name (or Version, Metadata-Version) is BAD_METADATA naming the field and the file", () => {
  assert.throws(
    () => parseCoreMetadata("Metadata-Version: 2.1\nVersion: 1\n", "x-1.whl"),
    rejectsWith("BAD_METADATA", /^x-1\.whl: required field Name missing/),
  );
  assert.throws(
    () => parseCoreMetadata("Name: a\n"),
    rejectsWith("BAD_METADATA", /fields Metadata-Version, Version missing/),
  );
  assert.throws(() => parseCoreMetadata(""), rejectsWith("BAD_METADATA", /Metadata-Version, Name, Version/));
});

test("a folded Description header is unfolded: the spec's '|' form and distutils' 8 spaces", () => {
  const text = "Line one\n\n  indented\n|literal pipe\nend";
  const piped = parseCoreMetadata(
    metadataText({ name: "a", version: "1", metadataVersion: "1.0", description: text }),
  );
  assert.deepEqual(piped.fields.get("Description"), [text]);
  assert.equal(piped.body, undefined);
  // The spec's wording: 7 spaces and a pipe.
  const seven = parseCoreMetadata(
    "Metadata-Version: 1.2\nName: a\nVersion: 1\nDescription: x\n       |y\n       |\n",
  );
  assert.deepEqual(seven.fields.get("Description"), ["x\ny\n"]);
  // distutils' rfc822_escape: 8 spaces, no pipe (blank lines are 8 spaces alone); a line of the
  // text that starts with "|" keeps it.
  const distutils = parseCoreMetadata(
    "Metadata-Version: 1.1\nName: a\nVersion: 1\nDescription: Title\n        \n        | a | b |\n          code\nSummary: s\n",
  );
  assert.deepEqual(distutils.fields.get("Description"), ["Title\n\n| a | b |\n  code"]);
  assert.deepEqual(distutils.fields.get("Summary"), ["s"]);
});

test("the description body follows the blank line, byte for byte", () => {
  const m = parseCoreMetadata(
    "Metadata-Version: 2.1\nName: a\nVersion: 1\n\n# Title\n\nName: not a header\n",
  );
  assert.equal(m.body, "# Title\n\nName: not a header\n");
  assert.deepEqual(m.fields.get("Name"), ["a"]);
});

test("multiple-use fields keep their order; names are canonicalized; continuations join", () => {
  const m = parseCoreMetadata(
    [
      "Metadata-Version: 2.1",
      "name: a",
      "Version: 1",
      "Classifier: B",
      "classifier: A",
      "Requires-Dist: x",
      "home-page: https://h",
      "Summary: folded",
      "   over lines",
      "X-Custom: 1",
      "x-custom: 2",
      "Classifier: C",
      "",
    ].join("\n"),
  );
  assert.equal(m.name, "a");
  assert.deepEqual(m.fields.get("Classifier"), ["B", "A", "C"]);
  assert.deepEqual(m.fields.get("Home-page"), ["https://h"]);
  assert.deepEqual(m.fields.get("Summary"), ["folded over lines"]);
  assert.deepEqual(m.fields.get("X-Custom"), ["1", "2"]);
  assert.equal(m.fields.has("classifier"), false);
});

test("CRLF line endings and a UTF-8 BOM are tolerated", () => {
  const m = parseCoreMetadata(
    "\uFEFFMetadata-Version: 2.1\r\nName: ünï\r\nVersion: 1.0\r\nSummary: s\r\n\r\nBody\r\nline\r\n",
  );
  assert.equal(m.metadataVersion, "2.1");
  assert.equal(m.name, "ünï");
  assert.deepEqual(m.fields.get("Summary"), ["s"]);
  assert.equal(m.body, "Body\nline\n");
});

test("reads every file of the corpus (wheels, .tar.gz and .zip sdists) and they match their filenames", async () => {
  await withDir(async (dir) => {
    for (const f of await makeCorpus(dir)) {
      const m = await readCoreMetadata(f.path, f.filename);
      assert.equal(m.metadataVersion, f.metadataVersion, f.filename);
      assert.equal(m.version, f.version);
      const parsed = parseFilename(f.filename);
      assert.ok(parsed);
      checkMetadataMatchesFilename(m, parsed, f.filename);
    }
  });
});

test("sdist .zip and .tar.gz: PKG-INFO from the top folder", async () => {
  await withDir(async (dir) => {
    const z = await makeSdist(dir, {
      name: "Zope.X",
      version: "1.0",
      format: "zip",
      rawFilenameName: true,
      summary: "z",
    });
    const mz = await readCoreMetadata(z, "Zope.X-1.0.zip");
    assert.equal(mz.name, "Zope.X");
    assert.deepEqual(mz.fields.get("Summary"), ["z"]);
    const t = await makeSdist(dir, {
      name: "my_pkg",
      version: "2.0.dev3",
      metadataVersion: "2.2",
      summary: "t",
    });
    const mt = await readCoreMetadata(t, "my_pkg-2.0.dev3.tar.gz");
    assert.equal(mt.version, "2.0.dev3");
    assert.equal(mt.metadataVersion, "2.2");
  });
});

test("sdist: egg-info PKG-INFO is the fallback; the top-level one wins; none is BAD_METADATA", async () => {
  await withDir(async (dir) => {
    const meta = (v: string): string => `Metadata-Version: 1.1\nName: p\nVersion: ${v}\n`;
    const egg = join(dir, "p-1.tar.gz");
    await writeFile(
      egg,
      await tarGzOf([
        ["p-1/setup.py", ""],
        ["p-1/p.egg-info/PKG-INFO", meta("1")],
      ]),
    );
    assert.equal((await readCoreMetadata(egg, "p-1.tar.gz")).version, "1");
    const both = join(dir, "p-2.tar.gz");
    await writeFile(
      both,
      await tarGzOf([
        ["p-2/p.egg-info/PKG-INFO", meta("9")],
        ["p-2/PKG-INFO", meta("2")],
      ]),
    );
    assert.equal((await readCoreMetadata(both, "p-2.tar.gz")).version, "2");
    const deep = join(dir, "p-3.tar.gz");
    await writeFile(deep, await tarGzOf([["p-3/sub/dir/PKG-INFO", meta("3")]]));
    await assert.rejects(readCoreMetadata(deep, "p-3.tar.gz"), rejectsWith("BAD_METADATA", /no PKG-INFO/));
    const zip = join(dir, "p-4.zip");
    await writeFile(zip, await zipOf([["p-4/setup.py", ""]]));
    await assert.rejects(
      readCoreMetadata(zip, "p-4.zip"),
      rejectsWith("BAD_METADATA", /p-4\.zip: no PKG-INFO/),
    );
  });
});

test("a .tar.gz held in memory reads as from disk: top-level PKG-INFO first, egg-info fallback, PKG-INFO past the first 64 KiB, none, damaged", async () => {
  const meta = (v: string): string => `Metadata-Version: 1.1\nName: p\nVersion: ${v}\n`;
  // Incompressible filler: the PKG-INFO after it starts past the 64 KiB read at once.
  const filler = randomBytes(200 * 1024).toString("base64");
  const cases: [string, Buffer][] = [
    [
      "top",
      await tarGzOf([
        ["p-1/PKG-INFO", meta("1")],
        ["p-1/setup.py", ""],
      ]),
    ],
    [
      "egg",
      await tarGzOf([
        ["p-1/setup.py", ""],
        ["p-1/p.egg-info/PKG-INFO", meta("1")],
      ]),
    ],
    [
      "both",
      await tarGzOf([
        ["p-1/p.egg-info/PKG-INFO", meta("9")],
        ["p-1/PKG-INFO", meta("1")],
      ]),
    ],
    [
      "far",
      await tarGzOf([
        ["p-1/data.txt", filler],
        ["p-1/PKG-INFO", meta("1")],
      ]),
    ],
    ["big", await tarGzOf([["p-1/PKG-INFO", meta("1") + "Description: " + filler + "\n"]])],
  ];
  for (const [what, bytes] of cases) {
    const m = await readCoreMetadata(bytes, "p-1.tar.gz");
    assert.equal(m.version, "1", what);
  }
  const none = await tarGzOf([["p-3/sub/dir/PKG-INFO", meta("3")]]);
  await assert.rejects(readCoreMetadata(none, "p-3.tar.gz"), rejectsWith("BAD_METADATA", /no PKG-INFO/));
  const damaged = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 7)]);
  await assert.rejects(
    readCoreMetadata(damaged, "c-1.tar.gz"),
    rejectsWith("BAD_ARCHIVE", /c-1\.tar\.gz: damaged/),
  );
  // Cut short after its PKG-INFO: the PKG-INFO is read, as from a file (nothing further is needed).
  const whole = await tarGzOf([
    ["p-1/PKG-INFO", meta("1")],
    ["p-1/data.txt", filler],
  ]);
  assert.equal((await readCoreMetadata(whole.subarray(0, 4096), "p-1.tar.gz")).version, "1");
});

test("damaged archives are BAD_ARCHIVE, bz2 and xz ones too", async () => {
  await withDir(async (dir) => {
    const whl = join(dir, "a-1-py3-none-any.whl");
    await writeFile(whl, Buffer.from("this is not a zip file at all, just text pretending"));
    await assert.rejects(
      readCoreMetadata(whl, "a-1-py3-none-any.whl"),
      rejectsWith("BAD_ARCHIVE", /a-1-py3-none-any\.whl/),
    );
    // A real wheel cut in half.
    const good = await makeWheel(dir, { name: "b", version: "1" });
    const data = await readFile(good);
    const cut = join(dir, "cut-1-py3-none-any.whl");
    await writeFile(cut, data.subarray(0, Math.floor(data.length / 2)));
    await assert.rejects(
      readCoreMetadata(cut, "cut-1-py3-none-any.whl"),
      rejectsWith("BAD_ARCHIVE", /cut-1/),
    );
    const gz = join(dir, "c-1.tar.gz");
    await writeFile(gz, Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 7)]));
    await assert.rejects(
      readCoreMetadata(gz, "c-1.tar.gz"),
      rejectsWith("BAD_ARCHIVE", /c-1\.tar\.gz: damaged/),
    );
    await assert.rejects(
      readCoreMetadata(gz, "c-1.tar.bz2"),
      rejectsWith("BAD_ARCHIVE", /c-1\.tar\.bz2: damaged bzip2\/tar archive/),
    );
    await assert.rejects(
      readCoreMetadata(gz, "c-1.tar.xz"),
      rejectsWith("BAD_ARCHIVE", /c-1\.tar\.xz: damaged xz\/tar archive/),
    );
    // A real .tar.bz2 cut in half.
    const bz2 = await readFile(await makeSdist(dir, { name: "d", version: "1", format: "tar.bz2" }));
    await writeFile(join(dir, "cut.tar.bz2"), bz2.subarray(0, Math.floor(bz2.length / 2)));
    await assert.rejects(
      readCoreMetadata(join(dir, "cut.tar.bz2"), "d-1.tar.bz2"),
      rejectsWith("BAD_ARCHIVE", /d-1/),
    );
  });
});

test("legacy formats: .tar.bz2 and .tar.xz sdists and eggs are read; installers are not opened", async () => {
  await withDir(async (dir) => {
    for (const format of ["tar.bz2", "tar.xz"] as const) {
      const path = await makeSdist(dir, {
        name: "Old.Pkg",
        version: "1.1",
        format,
        summary: `from a ${format}`,
      });
      const meta = await readCoreMetadata(path, `Old.Pkg-1.1.${format}`);
      assert.equal(meta.name, "Old.Pkg");
      assert.equal(meta.fields.get("Summary")?.[0], `from a ${format}`);
    }
    const egg = await makeEgg(dir, { name: "old-pkg", version: "1.0", summary: "an egg" });
    const meta = await readCoreMetadata(egg, "old_pkg-1.0-py2.7.egg");
    assert.equal(meta.version, "1.0");
    assert.equal(meta.fields.get("Summary")?.[0], "an egg");
    await writeFile(join(dir, "bad.egg"), "not a zip");
    await assert.rejects(
      readCoreMetadata(join(dir, "bad.egg"), "x-1.0-py2.7.egg"),
      rejectsWith("BAD_ARCHIVE", /x-1\.0/),
    );
    const exe = await makeInstaller(dir, { name: "old-pkg", version: "1.0", ext: "exe" });
    await assert.rejects(
      readCoreMetadata(exe, basename(exe)),
      rejectsWith("BAD_METADATA", /Windows installers/),
    );
    const parsed = parseFilename(basename(exe));
    assert.ok(parsed);
    const fromName = metadataFromFilename(parsed);
    assert.equal(fromName?.name, "old-pkg");
    assert.equal(fromName?.version, "1.0");
    assert.equal(metadataFromFilename(parseFilename("a-1.0-py2.7.egg") as ParsedFilename), undefined);
  });
});

test("wheel layout: the matching .dist-info is chosen; WHEEL is required; ambiguity is an error", async () => {
  await withDir(async (dir) => {
    const meta = (n: string, v: string): string => `Metadata-Version: 2.1\nName: ${n}\nVersion: ${v}\n`;
    const two = join(dir, "two.whl");
    await writeFile(
      two,
      await zipOf([
        ["other-9.dist-info/METADATA", meta("other", "9")],
        ["other-9.dist-info/WHEEL", "Wheel-Version: 1.0\n"],
        ["My.Pkg-1.0.dist-info/METADATA", meta("My.Pkg", "1.0")],
        ["My.Pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n"],
      ]),
    );
    assert.equal((await readCoreMetadata(two, "my_pkg-1.0-py3-none-any.whl")).name, "My.Pkg");
    await assert.rejects(
      readCoreMetadata(two, "third-1.0-py3-none-any.whl"),
      rejectsWith("BAD_ARCHIVE", /no \.dist-info folder matches/),
    );
    const noWheel = join(dir, "nowheel.whl");
    await writeFile(noWheel, await zipOf([["a-1.dist-info/METADATA", meta("a", "1")]]));
    await assert.rejects(
      readCoreMetadata(noWheel, "a-1-py3-none-any.whl"),
      rejectsWith("BAD_ARCHIVE", /WHEEL is missing/),
    );
    const nested = join(dir, "nested.whl");
    await writeFile(nested, await zipOf([["pkg/a-1.dist-info/METADATA", meta("a", "1")]]));
    await assert.rejects(
      readCoreMetadata(nested, "a-1-py3-none-any.whl"),
      rejectsWith("BAD_ARCHIVE", /no \.dist-info/),
    );
  });
});

test("METADATA larger than the cap is BAD_METADATA 'too large'", async () => {
  await withDir(async (dir) => {
    const path = await makeWheel(dir, {
      name: "big",
      version: "1",
      description: "x".repeat(MAX_METADATA_BYTES + 10),
    });
    await assert.rejects(
      readCoreMetadata(path, "big-1-py3-none-any.whl"),
      rejectsWith("BAD_METADATA", /too large/),
    );
  });
});

/** Rewrites the uncompressed size that the central directory declares for `name`. */
function patchDeclaredSize(zip: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let i = out.indexOf("PK\x01\x02", 0, "latin1"); i >= 0;) {
    const nameLen = out.readUInt16LE(i + 28);
    if (out.subarray(i + 46, i + 46 + nameLen).toString() === name) {
      out.writeUInt32LE(size, i + 24);
      return out;
    }
    i = out.indexOf("PK\x01\x02", i + 4, "latin1");
  }
  throw new Error(`${name} not in central directory`);
}

test("zip-bomb-like entries: a huge declared size, or more bytes than declared, are refused", async () => {
  await withDir(async (dir) => {
    const metadata = "Metadata-Version: 2.1\nName: bomb\nVersion: 1\n\n" + "A".repeat(200_000);
    const zip = await zipOf([
      ["bomb-1.dist-info/METADATA", metadata],
      ["bomb-1.dist-info/WHEEL", "Wheel-Version: 1.0\n"],
    ]);
    const huge = join(dir, "huge.whl");
    await writeFile(huge, patchDeclaredSize(zip, "bomb-1.dist-info/METADATA", 0xfffffff0));
    await assert.rejects(
      readCoreMetadata(huge, "bomb-1-py3-none-any.whl"),
      rejectsWith("BAD_METADATA", /too large \(4294967280 bytes declared\)/),
    );
    // Declares 100 bytes, inflates to 200 KB: the stream is stopped, not believed.
    const liar = join(dir, "liar.whl");
    await writeFile(liar, patchDeclaredSize(zip, "bomb-1.dist-info/METADATA", 100));
    await assert.rejects(
      readCoreMetadata(liar, "bomb-1-py3-none-any.whl"),
      rejectsWith("BAD_ARCHIVE", /METADATA/),
    );
    // The same archives held in memory (a small download is never written to disk): same answers.
    await assert.rejects(
      readCoreMetadata(
        patchDeclaredSize(zip, "bomb-1.dist-info/METADATA", 0xfffffff0),
        "bomb-1-py3-none-any.whl",
      ),
      rejectsWith("BAD_METADATA", /too large \(4294967280 bytes declared\)/),
    );
    await assert.rejects(
      readCoreMetadata(patchDeclaredSize(zip, "bomb-1.dist-info/METADATA", 100), "bomb-1-py3-none-any.whl"),
      rejectsWith("BAD_ARCHIVE", /METADATA \(more bytes than the 100 its directory declares/),
    );
    // Declaring more than it holds is refused as well.
    await assert.rejects(
      readCoreMetadata(
        patchDeclaredSize(zip, "bomb-1.dist-info/METADATA", 300_000),
        "bomb-1-py3-none-any.whl",
      ),
      rejectsWith("BAD_ARCHIVE", /METADATA/),
    );
    const meta = await readCoreMetadata(zip, "bomb-1-py3-none-any.whl");
    assert.equal(meta.name, "bomb");
    assert.equal(meta.body?.length, 200_000);
  });
});

/** Where the central directory header of `name` starts. */
function centralHeaderOf(zip: Buffer, name: string): number {
  for (
    let i = zip.indexOf("PK\x01\x02", 0, "latin1");
    i >= 0;
    i = zip.indexOf("PK\x01\x02", i + 4, "latin1")
  ) {
    const nameLen = zip.readUInt16LE(i + 28);
    if (zip.subarray(i + 46, i + 46 + nameLen).toString("latin1") === name) return i;
  }
  throw new Error(`${name} not in central directory`);
}

/** A copy of `zip` with `change` applied to the central directory header of `name`. */
function patchCentral(zip: Buffer, name: string, change: (z: Buffer, at: number) => void): Buffer {
  const out = Buffer.from(zip);
  change(out, centralHeaderOf(out, name));
  return out;
}

test("a wheel held in memory: its plain zip directory is read without yauzl; any other goes to yauzl, with the answers a file on disk gets", async () => {
  await withDir(async (dir) => {
    const filename = "plain-1-py3-none-any.whl";
    const entries: [string, string][] = [
      ["plain-1.dist-info/METADATA", "Metadata-Version: 2.1\nName: plain\nVersion: 1\n\nthe body"],
      ["plain-1.dist-info/WHEEL", "Wheel-Version: 1.0\n"],
      ["aa/x.py", "x = 1\n"],
    ];
    const keep = (n: string): boolean => n.endsWith("/METADATA");
    const stored = await zipOf(entries, false);
    for (const zip of [stored, await zipOf(entries)]) {
      const listing = plainZipDirectory(zip, keep, 100);
      assert.ok(listing, "the plain case is read");
      assert.deepEqual(
        listing.names,
        entries.map(([n]) => n),
      );
      assert.deepEqual([...listing.kept.keys()], ["plain-1.dist-info/METADATA"]);
      assert.equal((await readCoreMetadata(zip, filename)).body, "the body");
    }
    const flags =
      (set: number, clear = 0) =>
      (z: Buffer, at: number) =>
        z.writeUInt16LE((z.readUInt16LE(at + 8) | set) & ~clear, at + 8);
    const rename = (to: string) => (z: Buffer, at: number) => z.write(to, at + 46, "latin1");
    const metadataAt = centralHeaderOf(stored, "plain-1.dist-info/METADATA");
    const localOfMetadata = stored.readUInt32LE(metadataAt + 42);
    const badLocal = Buffer.from(stored);
    badLocal.write("PK\x09\x09", localOfMetadata, "latin1");
    const cases: [string, Buffer, number?][] = [
      ["a name with ..", patchCentral(stored, "aa/x.py", rename("../x.py"))],
      ["an absolute name", patchCentral(stored, "aa/x.py", rename("/a/x.py"))],
      ["a drive letter", patchCentral(stored, "aa/x.py", rename("C:/x.py"))],
      ["a backslash path with ..", patchCentral(stored, "aa/x.py", rename("..\\x.py"))],
      ["bytes after the end record", Buffer.concat([stored, Buffer.from("junk")])],
      ["an encrypted entry", patchCentral(stored, "aa/x.py", flags(0x1))],
      ["strong encryption", patchCentral(stored, "aa/x.py", flags(0x40))],
      [
        "a CP437 name",
        patchCentral(patchCentral(stored, "aa/x.py", rename("aa/\x82.py")), "aa/\x82.py", flags(0, 0x800)),
      ],
      [
        "a stored entry whose two sizes differ",
        patchCentral(stored, "aa/x.py", (z, at) => z.writeUInt32LE(5, at + 20)),
      ],
      ["a zip64 size", patchCentral(stored, "aa/x.py", (z, at) => z.writeUInt32LE(0xffffffff, at + 24))],
      [
        "another compression method",
        patchCentral(stored, "aa/x.py", (z, at) => z.writeUInt16LE(12, at + 10)),
      ],
      [
        "a broken central directory",
        patchCentral(stored, "aa/x.py", (z, at) => z.write("PK\x09\x09", at, "latin1")),
      ],
      ["a local header that is not one", badLocal],
      ["more entries than allowed", stored, 2],
    ];
    for (const [label, zip, max] of cases) {
      assert.equal(plainZipDirectory(zip, keep, max ?? 100), undefined, `${label}: not the plain case`);
      // yauzl decides, held in memory or on disk alike.
      const path = join(dir, "case.whl");
      await writeFile(path, zip);
      const outcome = async (input: string | Buffer): Promise<string> => {
        try {
          return `read ${(await readCoreMetadata(input, filename)).name}`;
        } catch (e) {
          return e instanceof PyregError ? `refused ${e.code}` : `threw ${String(e)}`;
        }
      };
      const fromDisk = await outcome(path);
      assert.equal(await outcome(zip), fromDisk, `${label}: held in memory as on disk`);
      if (max === undefined && label !== "a CP437 name" && label !== "another compression method")
        assert.match(fromDisk, /^refused BAD_ARCHIVE/, `${label}: yauzl refuses it`);
    }
  });
});

/** A tar entry as tar-stream's pack takes it. */
type TarEntry = Partial<tar.Header> & Pick<tar.Header, "name">;

/** An uncompressed tar of these entries (tar-stream's pack: ustar headers, pax where needed). */
async function tarOf(entries: TarEntry[], data: (name: string) => string = () => ""): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    pack.on("data", (c: unknown) => void chunks.push(c as Buffer));
    pack.on("end", () => resolve());
  });
  for (const h of entries) {
    if (h.type === "file") pack.entry(h, data(h.name));
    else pack.entry(h);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Changes the tar header at `at` and writes its checksum again (as Python's tarfile does: six octal digits, NUL, space). */
function patchTarHeader(tarBytes: Buffer, at: number, change: (h: Buffer) => void): Buffer {
  const out = Buffer.from(tarBytes);
  const h = out.subarray(at, at + 512);
  change(h);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return out;
}

test("an sdist held in memory: plain ustar headers are walked without tar-stream; any other goes to tar-stream, with the answers a file on disk gets", async () => {
  await withDir(async (dir) => {
    const filename = "plain-1.tar.gz";
    const pkgInfo = "Metadata-Version: 2.1\nName: plain\nVersion: 1\n\nthe body";
    const data = (name: string): string => (name.endsWith("/PKG-INFO") ? pkgInfo : "x = 1\n");
    const top = (n: string): boolean => /^[^/]+\/PKG-INFO$/.test(n);
    const dirEntry: TarEntry = { name: "plain-1/", type: "directory" };
    const file = (name: string): TarEntry => ({ name, type: "file" });
    const plain = await tarOf([dirEntry, file("plain-1/setup.py"), file("plain-1/PKG-INFO")], data);
    // The headers of the plain archive: the directory at 0, setup.py at 512, PKG-INFO at 1536.
    const found = plainTarFile(plain, top, 1 << 20);
    assert.equal(found?.name, "plain-1/PKG-INFO");
    assert.equal(found?.data.toString(), pkgInfo);
    // A name longer than 100 bytes: tar-stream writes it in the ustar prefix.
    const longDir = "p".repeat(140);
    const prefixed = await tarOf([file(`${longDir}/PKG-INFO`)], data);
    assert.equal(prefixed.readUInt8(345), "p".charCodeAt(0), "the name is split into the ustar prefix");
    assert.equal(plainTarFile(prefixed, top, 1 << 20)?.name, `${longDir}/PKG-INFO`);
    // The GNU magic (no prefix field), as GNU tar and Python's GNU_FORMAT write it.
    const gnu = patchTarHeader(plain, 1536, (h) => h.write("ustar  \0", 257, "latin1"));
    assert.equal(plainTarFile(gnu, top, 1 << 20)?.name, "plain-1/PKG-INFO");
    // Every header plain, none picked, the buffer ending at a header: not found in this prefix.
    assert.equal(plainTarFile(plain.subarray(0, 1536), top, 1 << 20), null);

    const cases: [string, Buffer][] = [
      ["a pax header", await tarOf([dirEntry, { ...file("plain-1/PKG-INFO"), pax: { comment: "x" } }], data)],
      [
        "a symbolic link",
        await tarOf([{ name: "plain-1/l", type: "symlink", linkname: "x" }, file("plain-1/PKG-INFO")], data),
      ],
      [
        "a bad checksum",
        (() => {
          const b = Buffer.from(plain);
          b.writeUInt8(b.readUInt8(600) ^ 1, 600);
          return b;
        })(),
      ],
      [
        "a base-256 size",
        patchTarHeader(plain, 512, (h) => {
          h.fill(0, 124, 136);
          h[124] = 0x80;
          h[135] = 6;
        }),
      ],
      [
        "a size with leading spaces",
        patchTarHeader(plain, 512, (h) => h.write("      00006 ", 124, "latin1")),
      ],
      ["a name that is not ASCII", patchTarHeader(plain, 512, (h) => void (h[8] = 0xe9))],
      ["an unknown magic", patchTarHeader(plain, 512, (h) => h.write("nstar\u000000", 257, "latin1"))],
      ["an end block first", Buffer.concat([Buffer.alloc(512), plain])],
      ["the PKG-INFO cut short", plain.subarray(0, 1536 + 512 + 10)],
      ["a PKG-INFO over the limit", plain],
    ];
    for (const [label, tarBytes] of cases) {
      const limit = label === "a PKG-INFO over the limit" ? 10 : 1 << 20;
      assert.equal(plainTarFile(tarBytes, top, limit), undefined, `${label}: not the plain case`);
      // tar-stream decides, held in memory or on disk alike.
      const gz = gzipSync(tarBytes);
      const path = join(dir, filename);
      await writeFile(path, gz);
      const outcome = async (input: string | Buffer): Promise<string> => {
        try {
          const m = await readCoreMetadata(input, filename);
          return `read ${m.name} ${m.body ?? ""}`;
        } catch (e) {
          return e instanceof PyregError ? `refused ${e.code}` : `threw ${String(e)}`;
        }
      };
      assert.equal(await outcome(gz), await outcome(path), `${label}: held in memory as on disk`);
    }
    assert.equal(await (async () => (await readCoreMetadata(gzipSync(plain), filename)).body)(), "the body");
  });
});

test("checkMetadataMatchesFilename: normalized names, PEP 440 versions", () => {
  const meta = parseCoreMetadata("Metadata-Version: 2.1\nName: Zope.Interface_Like\nVersion: 1.0.0alpha1\n");
  const ok = parseFilename("zope_interface_like-1.0a1-py3-none-any.whl");
  assert.ok(ok);
  checkMetadataMatchesFilename(meta, ok); // same project, same PEP 440 version
  const otherName = parseFilename("zope_interface-1.0a1.tar.gz");
  assert.ok(otherName);
  assert.throws(
    () => checkMetadataMatchesFilename(meta, otherName, "zope_interface-1.0a1.tar.gz"),
    rejectsWith(
      "BAD_METADATA",
      /zope_interface-1\.0a1\.tar\.gz: metadata Name "Zope\.Interface_Like" does not match/,
    ),
  );
  const otherVersion = parseFilename("zope_interface_like-1.0a2-py3-none-any.whl");
  assert.ok(otherVersion);
  assert.throws(
    () => checkMetadataMatchesFilename(meta, otherVersion),
    rejectsWith(
      "BAD_METADATA",
      /metadata Version "1\.0\.0alpha1" does not match the filename's version "1\.0a2"/,
    ),
  );
});

test("a wheel whose METADATA disagrees with its filename is caught after reading", async () => {
  await withDir(async (dir) => {
    const path = await makeWheel(dir, { name: "real", version: "2.0" });
    // Renamed file: the only .dist-info is still read, and the mismatch is then reported.
    const m = await readCoreMetadata(path, "fake-2.0-py3-none-any.whl");
    const parsed = parseFilename("fake-2.0-py3-none-any.whl");
    assert.ok(parsed);
    assert.throws(
      () => checkMetadataMatchesFilename(m, parsed),
      rejectsWith("BAD_METADATA", /does not match/),
    );
  });
});

test("legacy filenames: project, version and tags as their tools write them; twine's filetype for each", () => {
  const cases: [string, Partial<ParsedFilename>, { filetype: string; pyversion: string }][] = [
    [
      "Old_Pkg-1.0-py2.7.egg",
      { kind: "egg", project: "old-pkg", version: "1.0", pythonTag: "2.7" },
      { filetype: "bdist_egg", pyversion: "2.7" },
    ],
    [
      "pkg-1.0-py3.4-linux-x86_64.egg",
      { kind: "egg", version: "1.0", platformTag: "linux-x86_64" },
      { filetype: "bdist_egg", pyversion: "3.4" },
    ],
    ["pkg-1.0.egg", { kind: "egg", version: "1.0" }, { filetype: "bdist_egg", pyversion: "" }],
    [
      "Zope-Like-1.0.dev1.win32.exe",
      { kind: "wininst", project: "zope-like", version: "1.0.dev1", platformTag: "win32" },
      { filetype: "bdist_wininst", pyversion: "any" },
    ],
    [
      "pkg-2.1.win-amd64-py3.7.exe",
      { kind: "wininst", version: "2.1", platformTag: "win-amd64", pythonTag: "3.7" },
      { filetype: "bdist_wininst", pyversion: "3.7" },
    ],
    ["pkg-2.1.win32-py2.7.msi", { kind: "msi", version: "2.1" }, { filetype: "bdist_msi", pyversion: "2.7" }],
    ["pkg-1.1.tar.bz2", { kind: "sdist", ext: "tar.bz2" }, { filetype: "sdist", pyversion: "source" }],
    ["pkg-1.1.tar.xz", { kind: "sdist", ext: "tar.xz" }, { filetype: "sdist", pyversion: "source" }],
  ];
  for (const [name, want, form] of cases) {
    const p = parseFilename(name);
    assert.ok(p, name);
    for (const [k, v] of Object.entries(want)) assert.equal(p[k as keyof ParsedFilename], v, `${name}: ${k}`);
    assert.deepEqual(uploadFileType(p), form, name);
  }
  // Names their tools never write: not distributions (a folder source lists them as ignored).
  for (const name of ["pkg.egg", "setup.exe", "pkg-1.0.exe", "pkg-1.0.linux.msi"])
    assert.equal(parseFilename(name), undefined, name);
});
