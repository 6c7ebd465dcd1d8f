/**
 * End to end: the real CLI against real local registries, judged by the destination's files on
 * disk and by real pip. The first suite reads a static PEP 503 index served by nginx (a source
 * pyreg did not write) and uploads to pyreg serve.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeCorpus, makeWheel, type CorpusFile } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { pip, python, wheelFor } from "../helpers/pip.js";
import { startStaticIndex, type StaticIndex } from "../helpers/pep503.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

interface MigrateJson {
  counts: { copied: number; skipped: number; conflict: number; failed: number; filtered: number };
  unchanged?: { projects: number; files: number };
  outcomes: { filename: string; outcome: string; reason?: string }[];
}

describe("migrate: a static index (nginx) → upload endpoint", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let corpus: CorpusFile[];
  let src: StaticIndex;
  let dst: ServeHandle;
  let srcDir: string;
  let dstDir: string;
  /** The first migration, made once here so that every test below can also run alone. */
  let first: Awaited<ReturnType<typeof runCli>>;

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    dstDir = join(tmp.path, "dst");
    await mkdir(srcDir);
    corpus = await makeCorpus(srcDir);
    src = await startStaticIndex(srcDir);
    dst = await startServe(dstDir);
    first = await runCli(["migrate", "--from", src.indexUrl, "--to", dst.url, "--json"]);
  });
  after(async () => {
    await src.close();
    await dst.close();
    await tmp.cleanup();
  });

  test("copies every file of every version with the source's sha256", async () => {
    const r = first;
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as MigrateJson;
    assert.equal(out.counts.copied, corpus.length, r.stderr);
    assert.equal(out.counts.failed, 0);
    assert.equal(dst.server.uploads, corpus.length);
    const there = await folderDigests(dstDir);
    assert.deepEqual(
      [...there.entries()].sort(),
      corpus.map((f) => [f.filename, f.sha256]).sort(),
      "the destination holds exactly the source's files, byte for byte",
    );
  });

  test("real pip fetches each platform's wheel and the sdist from the destination", async () => {
    const d = await tempDir();
    try {
      // pip picks one wheel for the machine it runs on: ask for each platform's wheel in turn.
      for (const platform of ["win_amd64", "macosx_11_0_arm64"]) {
        await pip([
          "download",
          "--no-deps",
          "--index-url",
          dst.indexUrl,
          "-d",
          d.path,
          ...wheelFor(platform),
          "zope-interface-like==1.0.post1",
        ]);
      }
      await pip([
        "download",
        "--no-deps",
        "--no-binary=:all:",
        "--index-url",
        dst.indexUrl,
        "-d",
        d.path,
        "simple==0.0.1",
      ]);
      const got = (await readdir(d.path)).sort();
      const byName = new Map(corpus.map((f) => [f.filename, f.sha256]));
      assert.ok(
        got.some((f) => f.endsWith("win_amd64.whl")),
        got.join(","),
      );
      assert.ok(
        got.some((f) => f.endsWith("macosx_11_0_arm64.whl")),
        got.join(","),
      );
      assert.ok(
        got.some((f) => /^simple-0\.0\.1\.(tar\.gz|zip)$/i.test(f)),
        got.join(","),
      );
      for (const f of got) {
        const digests = await folderDigests(d.path);
        assert.equal(digests.get(f), byName.get(f), `${f} fetched by pip has the source's bytes`);
      }
    } finally {
      await d.cleanup();
    }
  });

  test("real pip installs a pure-Python package from the destination", async () => {
    const d = await tempDir();
    try {
      await pip(["install", "--no-deps", "--index-url", dst.indexUrl, "--target", d.path, "my-pkg==1.0"]);
      const v = await python("import my_pkg; print(my_pkg.VERSION)", { PYTHONPATH: d.path });
      assert.equal(v.trim(), "1.0");
    } finally {
      await d.cleanup();
    }
  });

  test("a second migrate uploads nothing; verify passes", async () => {
    const before = dst.server.uploads;
    const r = await runCli(["migrate", "--from", src.indexUrl, "--to", dst.url, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as MigrateJson;
    assert.equal(out.counts.copied, 0);
    // Every project is as the first run left it at both ends: none is planned again, all counted.
    assert.deepEqual(out.unchanged, {
      projects: new Set(corpus.map((f) => f.project)).size,
      files: corpus.length,
    });
    assert.equal(out.counts.skipped, 0);
    assert.equal(dst.server.uploads, before, "no upload was sent");
    const v = await runCli(["verify", "--from", src.indexUrl, "--to", dst.url]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, new RegExp(`${corpus.length} of ${corpus.length} files`));
  });

  test("verify exits 1 naming a file removed at the destination", async () => {
    const victim = corpus.find((f) => f.filename.endsWith("win_amd64.whl")) as CorpusFile;
    const saved = await readFile(join(dstDir, victim.filename));
    await rm(join(dstDir, victim.filename));
    try {
      const v = await runCli(["verify", "--from", src.indexUrl, "--to", dst.url, "--json"]);
      assert.equal(v.code, 1);
      const out = JSON.parse(v.stdout) as { notVerified: { filename: string; status: string }[] };
      assert.deepEqual(
        out.notVerified.map((p) => [p.filename, p.status]),
        [[victim.filename, "missing"]],
      );
      assert.match(v.stderr, new RegExp(`missing +${victim.filename.replace(/[.+]/g, "\\$&")}`));
    } finally {
      await writeFile(join(dstDir, victim.filename), saved);
    }
  });

  test("a same-name file with other bytes is a conflict and is left alone", async () => {
    const d = await tempDir();
    try {
      // A new version at the source, and a different build of the same filename at the destination.
      const srcPath = await makeWheel(srcDir, { name: "my_pkg", version: "3.0", summary: "source build" });
      await src.refresh();
      const otherPath = await makeWheel(d.path, { name: "my_pkg", version: "3.0", summary: "another build" });
      const filename = srcPath.split("/").pop() as string;
      await copyFile(otherPath, join(dstDir, filename));
      const otherBytes = await readFile(join(dstDir, filename));
      const plan = await runCli(["plan", "--from", src.indexUrl, "--to", dst.url, "--json"]);
      assert.equal(plan.code, 1, plan.stderr);
      const planOut = JSON.parse(plan.stdout) as { counts: { conflict: number; copy: number } };
      assert.equal(planOut.counts.conflict, 1);
      assert.equal(planOut.counts.copy, 0);
      const before = dst.server.uploads;
      const r = await runCli(["migrate", "--from", src.indexUrl, "--to", dst.url, "--json"]);
      assert.equal(r.code, 1);
      const out = JSON.parse(r.stdout) as MigrateJson;
      assert.deepEqual(
        out.outcomes.filter((o) => o.outcome === "conflict").map((o) => o.filename),
        [filename],
      );
      assert.equal(dst.server.uploads, before);
      assert.deepEqual(
        await readFile(join(dstDir, filename)),
        otherBytes,
        "the destination's file is untouched",
      );
      const v = await runCli(["verify", "--from", src.indexUrl, "--to", dst.url, "--json"]);
      assert.equal(v.code, 1);
      assert.match(v.stdout, /"status": "different"/);
      await rm(join(dstDir, filename));
      await rm(srcPath);
      await src.refresh();
    } finally {
      await d.cleanup();
    }
  });
});

describe("migrate between folders and endpoints", () => {
  test("folder → folder, folder → endpoint, index → folder", async () => {
    const tmp = await tempDir();
    try {
      const a = join(tmp.path, "a");
      await mkdir(a);
      const corpus = await makeCorpus(a);
      const expected = corpus.map((f) => [f.filename, f.sha256]).sort();

      const b = join(tmp.path, "b");
      let r = await runCli(["migrate", "--from", a, "--to", b, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([...(await folderDigests(b)).entries()].sort(), expected);

      const endpointDir = join(tmp.path, "endpoint");
      const ep = await startServe(endpointDir);
      try {
        r = await runCli(["migrate", "--from", a, "--to", ep.url, "--json"]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual([...(await folderDigests(endpointDir)).entries()].sort(), expected);

        const c = join(tmp.path, "c");
        r = await runCli(["migrate", "--from", ep.indexUrl, "--to", c, "--json"]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual([...(await folderDigests(c)).entries()].sort(), expected);
        r = await runCli(["verify", "--from", ep.indexUrl, "--to", c]);
        assert.equal(r.code, 0, r.stderr);
      } finally {
        await ep.close();
      }
    } finally {
      await tmp.cleanup();
    }
  });

  test("--include/--exclude select projects by normalized name", async () => {
    const tmp = await tempDir();
    try {
      const a = join(tmp.path, "a");
      await mkdir(a);
      const corpus = await makeCorpus(a);
      const b = join(tmp.path, "b");
      const r = await runCli([
        "migrate",
        "--from",
        a,
        "--to",
        b,
        "--include",
        "My_Pkg",
        "--include",
        "zope*",
        "--exclude",
        "ZOPE.interface-like",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        [...(await folderDigests(b)).keys()].sort(),
        corpus
          .filter((f) => f.project === "my-pkg")
          .map((f) => f.filename)
          .sort(),
      );
    } finally {
      await tmp.cleanup();
    }
  });
});

describe("errors a person can act on", () => {
  test("unreachable host: exit 2, says which side and what to check", async () => {
    const tmp = await tempDir();
    try {
      const r = await runCli([
        "migrate",
        "--from",
        "http://127.0.0.1:9/simple/",
        "--to",
        tmp.path,
        "--retries",
        "0",
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /source: connection refused for GET http:\/\/127\.0\.0\.1:9\/simple\//);
      assert.match(r.stderr, /hint: /);
    } finally {
      await tmp.cleanup();
    }
  });

  test("a temporary folder that cannot be made: exit 2, names it and what to do; nothing sent", async () => {
    const tmp = await tempDir();
    const dst = await startServe(join(tmp.path, "dst"));
    try {
      const a = join(tmp.path, "a");
      await mkdir(a);
      await makeWheel(a, { name: "one", version: "1.0" });
      const missing = join(tmp.path, "no-such-folder");
      const r = await runCli(["migrate", "--from", a, "--to", dst.url], { env: { TMPDIR: missing } });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`cannot create a temporary folder in ${missing}`));
      assert.match(r.stderr, /hint: point TMPDIR to a writable folder/);
      assert.equal(dst.server.uploads, 0);
    } finally {
      await dst.close();
      await tmp.cleanup();
    }
  });

  test("wrong password at the destination: exit 2, names the side and the credential source, never the secret", async () => {
    const tmp = await tempDir();
    const dst = await startServe(join(tmp.path, "dst"), {
      auth: { username: "alice", password: "right-secret" },
    });
    try {
      const a = join(tmp.path, "a");
      await mkdir(a);
      await makeWheel(a, { name: "one", version: "1.0" });
      const r = await runCli(["migrate", "--from", a, "--to", dst.url], {
        env: { PYREG_TO_USERNAME: "alice", PYREG_TO_PASSWORD: "wrong-secret-123" },
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /destination: 401 Unauthorized for POST/);
      assert.match(r.stderr, /PYREG_TO_PASSWORD/);
      assert.doesNotMatch(r.stdout + r.stderr, /wrong-secret-123/);
      const ok = await runCli([
        "migrate",
        "--from",
        a,
        "--to",
        `http://alice:right-secret@${dst.url.slice(7)}`,
        "--json",
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.doesNotMatch(ok.stdout + ok.stderr, /right-secret/);
    } finally {
      await dst.close();
      await tmp.cleanup();
    }
  });

  test("an index that is not there: exit 2 with the URL", async () => {
    const tmp = await tempDir();
    const srv = await startServe(join(tmp.path, "s"));
    try {
      const r = await runCli(["list", `${srv.url}nothing/here/`]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /404 Not Found for GET http:\/\/127\.0\.0\.1:\d+\/nothing\/here\//);
    } finally {
      await srv.close();
      await tmp.cleanup();
    }
  });

  test("a corrupt archive fails alone, with its reason; the rest is copied", async () => {
    const tmp = await tempDir();
    const dst = await startServe(join(tmp.path, "dst"));
    try {
      const a = join(tmp.path, "a");
      await mkdir(a);
      await makeWheel(a, { name: "good", version: "1.0" });
      await writeFile(join(a, "broken-1.0-py3-none-any.whl"), "this is not a zip file");
      const r = await runCli(["migrate", "--from", a, "--to", dst.url, "--json"]);
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout) as MigrateJson;
      assert.equal(out.counts.copied, 1);
      assert.equal(out.counts.failed, 1);
      const failed = out.outcomes.find((o) => o.outcome === "failed");
      assert.equal(failed?.filename, "broken-1.0-py3-none-any.whl");
      assert.match(failed?.reason ?? "", /zip|archive/i);
      assert.match(r.stderr, /failed: broken-1\.0-py3-none-any\.whl/);
    } finally {
      await dst.close();
      await tmp.cleanup();
    }
  });

  test("a wrong flag is a usage error (exit 2)", async () => {
    const r = await runCli(["migrate", "--from", "x", "--to", "y", "--form", "z"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option '--form'/);
  });
});
