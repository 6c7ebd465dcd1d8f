/**
 * `pyreg serve` notices changes to its folder without listing it on a timer: folder listings and
 * stats are counted by wrapping node:fs/promises and node:fs (module.syncBuiltinESMExports
 * updates the server's imported bindings), and Date is mocked so that no test depends on how fast
 * it runs.
 */
import { after, afterEach, before, beforeEach, describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { mkdir, mkdtemp, readFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";
import { makeWheel } from "./fixtures/dists.js";
import { multipartForm, startServe, uploadFields, type ServeHandle } from "./helpers/serve.js";

type FsPromises = typeof import("node:fs/promises");
type Fs = typeof import("node:fs");
const fsp = createRequire(import.meta.url)("node:fs/promises") as FsPromises;
const fs = createRequire(import.meta.url)("node:fs") as Fs;

const JSON_TYPE = "application/vnd.pypi.simple.v1+json";
const HOUR_AGO = new Date(Date.now() - 3600_000);

/**
 * Calls of readdir and stat (either form) on paths under `under`, the paths given to stat and
 * lstat, and reads of yank marks.
 */
const calls = { under: "", readdir: 0, stat: 0, yankReads: 0, statted: [] as string[] };
const original = {
  readdir: fsp.readdir,
  stat: fsp.stat,
  lstat: fsp.lstat,
  readFile: fsp.readFile,
  statSync: fs.statSync,
  lstatSync: fs.lstatSync,
};

function inside(path: unknown): boolean {
  const p = String(path);
  return calls.under !== "" && (p === calls.under || p.startsWith(calls.under + sep));
}

async function projects(s: ServeHandle): Promise<string[]> {
  const r = await fetch(s.indexUrl, { headers: { Accept: JSON_TYPE } });
  assert.equal(r.status, 200);
  return ((await r.json()) as { projects: { name: string }[] }).projects.map((p) => p.name);
}

async function page(s: ServeHandle, project: string): Promise<{ status: number; files: string[] }> {
  const r = await fetch(`${s.indexUrl}${project}/`, { headers: { Accept: JSON_TYPE } });
  if (r.status !== 200) {
    await r.arrayBuffer();
    return { status: r.status, files: [] };
  }
  const body = (await r.json()) as { files: { filename: string }[] };
  return { status: 200, files: body.files.map((f) => f.filename) };
}

async function download(s: ServeHandle, filename: string): Promise<number> {
  const r = await fetch(`${s.url}files/${filename}`);
  await r.arrayBuffer();
  return r.status;
}

/** A file that looks like a wheel by name (listing never opens it). */
async function put(path: string): Promise<void> {
  await writeFile(path, "not really a wheel");
}

describe("pyreg serve: change detection", () => {
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "pyreg-serve-changes-"));
    (fsp as { readdir: unknown }).readdir = (...args: Parameters<FsPromises["readdir"]>) => {
      if (inside(args[0])) calls.readdir++;
      return (original.readdir as (...a: unknown[]) => unknown)(...args);
    };
    (fsp as { stat: unknown }).stat = (...args: Parameters<FsPromises["stat"]>) => {
      if (inside(args[0])) {
        calls.stat++;
        calls.statted.push(String(args[0]));
      }
      return (original.stat as (...a: unknown[]) => unknown)(...args);
    };
    (fs as { statSync: unknown }).statSync = (...args: Parameters<Fs["statSync"]>) => {
      if (inside(args[0])) {
        calls.stat++;
        calls.statted.push(String(args[0]));
      }
      return (original.statSync as (...a: unknown[]) => unknown)(...args);
    };
    (fsp as { lstat: unknown }).lstat = (...args: Parameters<FsPromises["lstat"]>) => {
      if (inside(args[0])) calls.statted.push(String(args[0]));
      return (original.lstat as (...a: unknown[]) => unknown)(...args);
    };
    (fs as { lstatSync: unknown }).lstatSync = (...args: Parameters<Fs["lstatSync"]>) => {
      if (inside(args[0])) calls.statted.push(String(args[0]));
      return (original.lstatSync as (...a: unknown[]) => unknown)(...args);
    };
    (fsp as { readFile: unknown }).readFile = (...args: Parameters<FsPromises["readFile"]>) => {
      if (inside(args[0]) && String(args[0]).endsWith(".yanked")) calls.yankReads++;
      return (original.readFile as (...a: unknown[]) => unknown)(...args);
    };
    syncBuiltinESMExports();
  });

  after(async () => {
    (fsp as { readdir: unknown }).readdir = original.readdir;
    (fsp as { stat: unknown }).stat = original.stat;
    (fsp as { lstat: unknown }).lstat = original.lstat;
    (fsp as { readFile: unknown }).readFile = original.readFile;
    (fs as { statSync: unknown }).statSync = original.statSync;
    (fs as { lstatSync: unknown }).lstatSync = original.lstatSync;
    syncBuiltinESMExports();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    // Date only: sockets and timers run as usual. It moves only when a test says so.
    mock.timers.enable({ apis: ["Date"], now: Date.now() });
  });

  afterEach(() => {
    mock.timers.reset();
    calls.under = "";
    calls.statted = [];
  });

  test("repeated reads of an unchanged folder list no folder, over any length of time", async () => {
    const root = join(work, "unchanged");
    await mkdir(join(root, "sub"), { recursive: true });
    for (let p = 0; p < 5; p++)
      for (let v = 0; v < 4; v++) await put(join(root, `pkg${p}-1.${v}-py3-none-any.whl`));
    await put(join(root, "sub", "deep-1.0-py3-none-any.whl"));
    // Folders last changed an hour ago, as in a registry that is only read.
    await utimes(join(root, "sub"), HOUR_AGO, HOUR_AGO);
    await utimes(root, HOUR_AGO, HOUR_AGO);
    calls.under = root;
    const s = await startServe(root);
    try {
      assert.deepEqual((await projects(s)).sort(), ["deep", "pkg0", "pkg1", "pkg2", "pkg3", "pkg4"]);
      assert.equal((await page(s, "pkg3")).files.length, 4);
      calls.readdir = 0;
      calls.stat = 0;
      const rounds = 20;
      for (let i = 0; i < rounds; i++) {
        mock.timers.tick(5_000); // well past any cache time: 100 s in all
        assert.equal((await projects(s)).length, 6);
        assert.deepEqual((await page(s, "deep")).files, ["deep-1.0-py3-none-any.whl"]);
        assert.equal(await download(s, "pkg1-1.2-py3-none-any.whl"), 200);
      }
      assert.equal(calls.readdir, 0, "no folder was listed again");
      // Per round: each of the 2 folders once per read (3 reads), plus the listed or served files.
      assert.ok(calls.stat <= rounds * (3 * 2 + 2), `${calls.stat} stats for ${rounds} rounds`);
    } finally {
      await s.close();
    }
  });

  test("a file added, renamed or removed by hand, in the folder or a subfolder, is seen at the next read", async () => {
    const root = join(work, "by-hand");
    await mkdir(join(root, "sub"), { recursive: true });
    await put(join(root, "alpha-1.0-py3-none-any.whl"));
    await put(join(root, "sub", "beta-1.0-py3-none-any.whl"));
    await utimes(join(root, "sub"), HOUR_AGO, HOUR_AGO);
    await utimes(root, HOUR_AGO, HOUR_AGO);
    calls.under = root;
    const s = await startServe(root);
    try {
      assert.deepEqual((await projects(s)).sort(), ["alpha", "beta"]);
      // The clock does not move from here on: no cache time can run out.
      await put(join(root, "gamma-1.0-py3-none-any.whl"));
      assert.deepEqual((await projects(s)).sort(), ["alpha", "beta", "gamma"]);
      assert.deepEqual((await page(s, "gamma")).files, ["gamma-1.0-py3-none-any.whl"]);

      await rename(join(root, "gamma-1.0-py3-none-any.whl"), join(root, "delta-1.0-py3-none-any.whl"));
      assert.deepEqual((await projects(s)).sort(), ["alpha", "beta", "delta"]);
      assert.equal((await page(s, "gamma")).status, 404);
      assert.equal(await download(s, "delta-1.0-py3-none-any.whl"), 200);

      await rm(join(root, "delta-1.0-py3-none-any.whl"));
      assert.deepEqual((await projects(s)).sort(), ["alpha", "beta"]);

      await put(join(root, "sub", "beta-2.0-py3-none-any.whl"));
      assert.deepEqual((await page(s, "beta")).files.sort(), [
        "beta-1.0-py3-none-any.whl",
        "beta-2.0-py3-none-any.whl",
      ]);
      await rename(join(root, "sub", "beta-1.0-py3-none-any.whl"), join(root, "beta-1.0-py3-none-any.whl"));
      assert.deepEqual((await page(s, "beta")).files.sort(), [
        "beta-1.0-py3-none-any.whl",
        "beta-2.0-py3-none-any.whl",
      ]);
      assert.equal(await download(s, "beta-1.0-py3-none-any.whl"), 200);

      // A new subfolder, then the old one removed.
      await mkdir(join(root, "new", "deeper"), { recursive: true });
      await put(join(root, "new", "deeper", "epsilon-1.0-py3-none-any.whl"));
      assert.deepEqual((await projects(s)).sort(), ["alpha", "beta", "epsilon"]);
      await rm(join(root, "sub"), { recursive: true });
      assert.deepEqual((await page(s, "beta")).files, ["beta-1.0-py3-none-any.whl"]);
      assert.equal(await download(s, "beta-2.0-py3-none-any.whl"), 404);
    } finally {
      await s.close();
    }
  });

  test("a yank mark added or removed by hand is seen at the next read; unyanked files cost no read of a mark", async () => {
    const root = join(work, "yank");
    await mkdir(join(root, "sub"), { recursive: true });
    for (let v = 0; v < 5; v++) await put(join(root, `pkg-1.${v}-py3-none-any.whl`));
    await put(join(root, "sub", "pkg-2.0-py3-none-any.whl"));
    await utimes(join(root, "sub"), HOUR_AGO, HOUR_AGO);
    await utimes(root, HOUR_AGO, HOUR_AGO);
    calls.under = root;
    const yanked = async (s: ServeHandle): Promise<Record<string, unknown>> => {
      const r = await fetch(`${s.indexUrl}pkg/`, { headers: { Accept: JSON_TYPE } });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { files: { filename: string; yanked: unknown }[] };
      return Object.fromEntries(
        body.files.filter((f) => f.yanked !== false).map((f) => [f.filename, f.yanked]),
      );
    };
    const s = await startServe(root);
    try {
      calls.yankReads = 0;
      assert.deepEqual(await yanked(s), {});
      assert.deepEqual(await yanked(s), {});
      assert.equal(calls.yankReads, 0, "no mark is read for files whose folder holds none");
      // The clock does not move from here on: no cache time can run out.
      await writeFile(join(root, "pkg-1.3-py3-none-any.whl.yanked"), "broken\n");
      await writeFile(join(root, "sub", "pkg-2.0-py3-none-any.whl.yanked"), "");
      assert.deepEqual(await yanked(s), {
        "pkg-1.3-py3-none-any.whl": "broken",
        "pkg-2.0-py3-none-any.whl": true,
      });
      calls.yankReads = 0;
      await yanked(s);
      assert.equal(calls.yankReads, 2, "only the two marks are read");
      await rm(join(root, "pkg-1.3-py3-none-any.whl.yanked"));
      assert.deepEqual(await yanked(s), { "pkg-2.0-py3-none-any.whl": true });
    } finally {
      await s.close();
    }
  });

  test("an upload is listed at once without listing the folder again", async () => {
    const root = join(work, "upload");
    await mkdir(root, { recursive: true });
    await put(join(root, "alpha-1.0-py3-none-any.whl"));
    const src = join(work, "upload-src");
    const wheels = [
      await readFile(await makeWheel(src, { name: "up_one", version: "1.0" })),
      await readFile(await makeWheel(src, { name: "up_two", version: "1.0" })),
      await readFile(await makeWheel(src, { name: "up_three", version: "1.0" })),
    ];
    const send = async (name: string, data: Buffer): Promise<void> => {
      const form = multipartForm(await uploadFields(name, "1.0", "bdist_wheel", data), {
        filename: `${name.replace(/-/g, "_")}-1.0-py3-none-any.whl`,
        data,
      });
      const r = await fetch(s.url, {
        method: "POST",
        headers: { "Content-Type": form.contentType },
        body: new Uint8Array(form.body),
      });
      assert.equal(r.status, 200, await r.text());
    };
    calls.under = root;
    const s = await startServe(root);
    try {
      // The first upload makes the server's temporary folder, a change the next read lists.
      await send("up-one", wheels[0] as Buffer);
      assert.deepEqual((await projects(s)).sort(), ["alpha", "up-one"]);
      await utimes(root, HOUR_AGO, HOUR_AGO);
      assert.deepEqual((await projects(s)).sort(), ["alpha", "up-one"]);
      calls.readdir = 0;
      await send("up-two", wheels[1] as Buffer);
      assert.deepEqual((await projects(s)).sort(), ["alpha", "up-one", "up-two"]);
      assert.deepEqual((await page(s, "up-two")).files, ["up_two-1.0-py3-none-any.whl"]);
      assert.equal(calls.readdir, 0, "the upload was added without listing the folder");
      // Into a folder whose listing is current, an upload costs two stats of the folder (before
      // and after its link: the snapshot answers "already there?") and no stat of the new file.
      calls.statted = [];
      await send("up-three", wheels[2] as Buffer);
      assert.deepEqual(calls.statted, [root, root]);
      // Uploads at once, each beside reads: a read that stats the folder while a link is under
      // way sees a stamp not yet adopted, which must not make it list the folder.
      const more = await Promise.all(
        Array.from({ length: 12 }, (_, i) => makeWheel(src, { name: `many_${i}`, version: "1.0" })),
      );
      await Promise.all(
        more.map(async (path, i) => {
          await Promise.all([send(`many-${i}`, await readFile(path)), projects(s), page(s, "alpha")]);
          await projects(s);
        }),
      );
      assert.equal((await projects(s)).length, 16);
      assert.equal(calls.readdir, 0, "concurrent uploads and reads listed no folder");
      // Once the folder has been still for a while, it is listed once to confirm, then no more.
      mock.timers.tick(60_000);
      assert.equal((await projects(s)).length, 16);
      assert.equal(calls.readdir, 1);
      mock.timers.tick(60_000);
      assert.equal((await projects(s)).length, 16);
      assert.equal(calls.readdir, 1);
    } finally {
      await s.close();
    }
  });
});
