/**
 * Legacy distribution formats (eggs, bdist_wininst .exe, bdist_msi .msi, .tar.bz2 / .tar.xz / .zip
 * sdists) are copied where the destination takes them, and otherwise reported with the reason,
 * through the real CLI: folder → folder, folder → pyreg serve (then pip downloads the sdists from
 * it), pyreg serve as a simple-index source, a PyPI destination (whose rules are known: nothing is
 * sent) and an upload endpoint that refuses them (its answer is reported).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readdir, readFile, unlink } from "node:fs/promises";
import { basename, join } from "node:path";
import { makeEgg, makeInstaller, makeSdist, makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { pip } from "../helpers/pip.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

const EGG = "oldpkg-1.0-py2.7.egg";
const EXE = "oldpkg-1.0.win32-py2.7.exe";
const MSI = "oldpkg-1.0.win32-py2.7.msi";
const BZ2 = "oldpkg-1.1.tar.bz2";
const XZ = "oldpkg-1.2.tar.xz";
const ZIP = "oldpkg-1.3.zip";
const WHEEL = "oldpkg-2.0-py3-none-any.whl";
const LEGACY = [EGG, EXE, MSI, BZ2, XZ, ZIP];

/** A folder holding one file of each legacy format, and a wheel. */
async function legacyFolder(dir: string, only?: readonly string[]): Promise<string[]> {
  const made = [
    await makeEgg(dir, { name: "oldpkg", version: "1.0" }),
    await makeInstaller(dir, { name: "oldpkg", version: "1.0", ext: "exe" }),
    await makeInstaller(dir, { name: "oldpkg", version: "1.0", ext: "msi" }),
    await makeSdist(dir, { name: "oldpkg", version: "1.1", format: "tar.bz2" }),
    await makeSdist(dir, { name: "oldpkg", version: "1.2", format: "tar.xz" }),
    await makeSdist(dir, { name: "oldpkg", version: "1.3", format: "zip" }),
    await makeWheel(dir, { name: "oldpkg", version: "2.0" }),
  ].map((p) => basename(p));
  if (only) {
    for (const f of made) if (!only.includes(f)) await unlink(join(dir, f));
    return made.filter((f) => only.includes(f));
  }
  return made;
}

interface ReportJson {
  files: { filename: string; state: string; code?: string | null; reason?: string | null }[];
}

describe("legacy formats are copied where the destination takes them", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let src: string;
  let serve: ServeHandle;
  let served: string;

  before(async () => {
    tmp = await tempDir();
    src = join(tmp.path, "src");
    assert.deepEqual((await legacyFolder(src)).sort(), [...LEGACY, WHEEL].sort());
    served = join(tmp.path, "served");
    serve = await startServe(served);
  });
  after(async () => {
    await serve.close();
    await tmp.cleanup();
  });

  test("folder → folder: every format is listed and copied byte for byte", async () => {
    const l = await runCli(["list", src, "--json"]);
    assert.equal(l.code, 0, l.stderr);
    const listed = JSON.parse(l.stdout) as { ignored: unknown[] };
    assert.deepEqual(listed.ignored, []);
    const dst = join(tmp.path, "dst");
    const m = await runCli(["migrate", "--from", src, "--to", dst, "--state", join(tmp.path, "st1")]);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.match(m.stdout, /7 copied/);
    assert.deepEqual(await folderDigests(dst), await folderDigests(src));
  });

  test("folder → pyreg serve: every format is uploaded and served; pip downloads the .tar.bz2 and .tar.xz sdists", async () => {
    const m = await runCli(["migrate", "--from", src, "--to", serve.url, "--state", join(tmp.path, "st2")]);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.match(m.stdout, /7 copied/);
    assert.deepEqual(await folderDigests(served), await folderDigests(src));
    const page = await (await fetch(`${serve.indexUrl}oldpkg/`)).text();
    for (const f of [...LEGACY, WHEEL]) assert.ok(page.includes(`>${f}</a>`), `${f} is not in the index`);
    const dl = join(tmp.path, "dl");
    for (const spec of ["oldpkg==1.1", "oldpkg==1.2"]) {
      await pip(["download", "--no-deps", "--index-url", serve.indexUrl, "-d", dl, spec]);
    }
    assert.deepEqual((await readdir(dl)).sort(), [BZ2, XZ]);
  });

  test("pyreg serve as a simple-index source: every format is listed and copied to a folder", async () => {
    const dst = join(tmp.path, "dst3");
    const m = await runCli([
      "migrate",
      "--from",
      serve.indexUrl,
      "--to",
      dst,
      "--state",
      join(tmp.path, "st3"),
    ]);
    assert.equal(m.code, 0, m.stdout + m.stderr);
    assert.deepEqual(await folderDigests(dst), await folderDigests(src));
  });
});

describe("legacy formats a destination does not take are reported with the reason", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let serve: ServeHandle;

  before(async () => {
    tmp = await tempDir();
    serve = await startServe(join(tmp.path, "index"));
  });
  after(async () => {
    await serve.close();
    await tmp.cleanup();
  });

  test("PyPI: plan, migrate and verify name each refused format with Warehouse's rule; nothing is sent", async () => {
    const src = join(tmp.path, "src");
    // Only formats PyPI refuses: nothing is uploaded, so no request ever leaves for upload.pypi.org.
    const refused = [EGG, EXE, MSI, BZ2, XZ];
    await legacyFolder(src, refused);
    // The destination's index is read at --to-index (a local pyreg serve standing in for PyPI's).
    const to = ["--to", "https://upload.pypi.org/legacy/", "--to-index", serve.indexUrl];
    const p = await runCli(["plan", "--from", src, ...to, "--json"]);
    assert.equal(p.code, 1, p.stdout + p.stderr);
    const plan = JSON.parse(p.stdout) as {
      counts: { unsupported: number; copy: number };
      projects: { files: { filename: string; action: string; reason: string }[] }[];
    };
    assert.equal(plan.counts.unsupported, 5);
    assert.equal(plan.counts.copy, 0);
    for (const f of plan.projects.flatMap((x) => x.files)) {
      assert.equal(f.action, "unsupported", f.filename);
      assert.match(f.reason, /PyPI takes only \.whl, \.tar\.gz and \.zip files \(PEP 527/);
      assert.match(f.reason, /warehouse\/forklift\/legacy\.py/);
    }
    const text = await runCli(["plan", "--from", src, ...to]);
    assert.match(
      text.stdout,
      /x unsupported oldpkg-1\.0-py2\.7\.egg {2}\(an egg \(bdist_egg\): PyPI takes only/,
    );
    assert.match(text.stdout, /5 in a format the destination does not take/);

    const state = join(tmp.path, "st-pypi");
    const m = await runCli(["migrate", "--from", src, ...to, "--state", state, "--json"]);
    assert.equal(m.code, 1, m.stdout + m.stderr);
    const out = JSON.parse(m.stdout) as { counts: { failed: number; copied: number } };
    assert.equal(out.counts.failed, 5);
    assert.equal(out.counts.copied, 0);
    const report = JSON.parse(await readFile(join(state, "report.json"), "utf8")) as ReportJson;
    for (const name of refused) {
      const row = report.files.find((f) => f.filename === name);
      assert.equal(row?.code, "UNSUPPORTED_FORMAT", name);
      assert.match(row?.reason ?? "", /PyPI takes only/);
    }
    const md = await readFile(join(state, "report.md"), "utf8");
    assert.match(
      md,
      /oldpkg-1\.1\.tar\.bz2 \| failed \(UNSUPPORTED_FORMAT\) \| a \.tar\.bz2 sdist: PyPI takes only/,
    );

    const v = await runCli(["verify", "--from", src, ...to, "--state", join(tmp.path, "st-v"), "--json"]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.match(v.stdout, /not at the destination: an MSI installer \(bdist_msi\): PyPI takes only/);
  });

  test("an upload endpoint that refuses an egg: sent with twine's filetype, its answer reported", async () => {
    const src = join(tmp.path, "src-egg");
    await legacyFolder(src, [EGG]);
    const forms: string[] = [];
    const refusal =
      "Invalid file extension: Use .tar.gz, .whl or .zip extension. See https://www.python.org/dev/peps/pep-0527";
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.method === "POST") {
          forms.push(Buffer.concat(chunks).toString("latin1"));
          res.writeHead(400, refusal, { "content-type": "text/plain" });
          res.end(`400 ${refusal}`);
        } else {
          res.writeHead(404);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const state = join(tmp.path, "st-refused");
      const m = await runCli([
        "migrate",
        "--from",
        src,
        "--to",
        `http://127.0.0.1:${port}/`,
        "--state",
        state,
      ]);
      assert.equal(m.code, 1, m.stdout + m.stderr);
      assert.equal(forms.length, 1);
      assert.match(forms[0] ?? "", /name="filetype"\r\n\r\nbdist_egg\r\n/);
      assert.match(forms[0] ?? "", /name="pyversion"\r\n\r\n2\.7\r\n/);
      const md = await readFile(join(state, "report.md"), "utf8");
      assert.match(
        md,
        /oldpkg-1\.0-py2\.7\.egg \| failed \(UPLOAD_REFUSED\) \| destination refused .*HTTP 400 .*Invalid file extension.*the registry may not take an egg \(bdist_egg\) at all/,
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
