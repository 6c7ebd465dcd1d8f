/**
 * Security pass, through the real CLI:
 * - a hostile source: each bad file fails with its own code and reason while the good files are
 *   copied; foreign hosts never receive credentials; broken indexes fail precisely;
 * - credential hygiene: known secrets in every credential input never appear in output, reports
 *   or the state folder;
 * - TLS: verification always on, --ca-bundle trusts a self-managed CA, --insecure is warned.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import yazl from "yazl";
import { makeSdist, makeWheel } from "../fixtures/dists.js";
import { FAST_RETRY_ARGS, startFaultProxy } from "../fakes/faultProxy.js";
import { jsonList, jsonPage, startHostile, type HostileServer } from "../fakes/hostile.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";
import { makeTestTls } from "../helpers/tls.js";

const FAST = FAST_RETRY_ARGS;

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

function zipOf(entries: [string, Buffer][]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of entries) zip.addBuffer(data, name);
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on("data", (c: Buffer) => chunks.push(c));
    zip.outputStream.on("end", () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on("error", reject);
  });
}

async function tarGzOf(entries: [string, Buffer][]): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, data] of entries) pack.entry({ name, size: data.length }, data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

interface Outcome {
  filename: string;
  outcome: string;
  reason?: string;
  code?: string;
}

describe("a hostile source", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let bad: HostileServer;
  let foreign: HostileServer;
  let dst: ServeHandle;
  let dstDir: string;
  const good: { filename: string; sha: string }[] = [];
  let first: { code: number | null; outcomes: Outcome[]; stderr: string; stdout: string };

  before(async () => {
    tmp = await tempDir();
    bad = await startHostile();
    foreign = await startHostile();
    dstDir = join(tmp.path, "dst");
    dst = await startServe(dstDir);
    const work = join(tmp.path, "work");
    await mkdir(work);
    const serveFile = (server: HostileServer, path: string, data: Buffer): void =>
      server.set(path, { headers: { "content-type": "application/octet-stream" }, body: data });

    // Good files, one of them behind a redirect to another host.
    const goodFiles = [
      await makeWheel(work, { name: "good", version: "1.0" }),
      await makeSdist(work, { name: "good", version: "1.0" }),
      await makeWheel(work, { name: "good", version: "2.0" }),
    ];
    const goodRows = [];
    for (const [i, p] of goodFiles.entries()) {
      const data = await readFile(p);
      const filename = basename(p);
      good.push({ filename, sha: sha256(data) });
      if (i === 2) {
        bad.set(`/files/${filename}`, {
          status: 302,
          headers: { location: `${foreign.url}cdn/${filename}` },
        });
        serveFile(foreign, `/cdn/${filename}`, data);
      } else serveFile(bad, `/files/${filename}`, data);
      goodRows.push({ filename, url: `/files/${filename}`, sha256: sha256(data), size: data.length });
    }
    bad.set("/simple/good/", jsonPage("good", goodRows));

    // The evil project: one entry per attack.
    const rows: { filename: string; url: string; sha256: string; size?: number }[] = [];
    const add = (filename: string, data: Buffer, opts: { url?: string; sha?: string } = {}): void => {
      const url = opts.url ?? `/files/x${rows.length}`;
      if (!opts.url) serveFile(bad, url, data);
      rows.push({ filename, url, sha256: opts.sha ?? sha256(data), size: data.length });
    };
    const junk = Buffer.from("not an archive at all\n".repeat(20));
    for (const name of [
      "../../etc/evil-1.0.tar.gz",
      "evil/evil-1.0.tar.gz",
      "evil\\evil-1.0.tar.gz",
      "evil-1.0\u0000.tar.gz",
      "/etc/evil-1.0.tar.gz",
      `evil-1.0-${"a".repeat(5000)}.tar.gz`,
    ])
      add(name, junk);
    add("evil-2.0.tar.gz", junk, { sha: sha256(Buffer.from("other bytes")) }); // hash mismatch
    add("evil-3.0-py3-none-any.whl", junk); // not a zip
    add("evil-9.0.tar.gz", junk); // not a gzip/tar
    const wheelFile = "WHEEL";
    add(
      "evil-4.0-py3-none-any.whl",
      await zipOf([
        ["evil-4.0.dist-info/METADATA", Buffer.alloc(11 * 1024 * 1024, 0x41)], // zip bomb: ~11 MiB from a few KiB
        [`evil-4.0.dist-info/${wheelFile}`, Buffer.from("Wheel-Version: 1.0\n")],
      ]),
    );
    add(
      "evil-10.0.tar.gz",
      await tarGzOf([["evil-10.0/PKG-INFO", Buffer.alloc(11 * 1024 * 1024, 0x41)]]), // huge PKG-INFO
    );
    // A real wheel of another project, renamed: the metadata disagrees with the filename.
    const other = await makeWheel(work, { name: "other", version: "5.0" });
    const renamed = join(work, "evil-5.0-py3-none-any.whl");
    await rename(other, renamed);
    add("evil-5.0-py3-none-any.whl", await readFile(renamed));
    // A real sdist whose URL is on another host.
    const foreignSdist = await readFile(await makeSdist(work, { name: "evil", version: "6.0" }));
    serveFile(foreign, "/elsewhere/evil-6.0.tar.gz", foreignSdist);
    add("evil-6.0.tar.gz", foreignSdist, { url: `${foreign.url}elsewhere/evil-6.0.tar.gz` });
    // A redirect loop.
    bad.set("/loop", { status: 302, headers: { location: "/loop" } });
    add("evil-7.0.tar.gz", junk, { url: "/loop" });
    // A gzip bomb as Content-Encoding of a file that says it is 600 bytes.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    bad.set("/files/bomb", {
      headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" },
      body: bomb,
    });
    rows.push({ filename: "evil-8.0.tar.gz", url: "/files/bomb", sha256: sha256(junk), size: 600 });
    bad.set("/simple/evil/", jsonPage("evil", rows));

    // Broken pages: malformed JSON, malformed HTML.
    bad.set("/simple/broken-json/", {
      headers: { "content-type": "application/vnd.pypi.simple.v1+json" },
      body: '{"meta": {"api-version": "1.1"}, "files": [',
    });
    bad.set("/simple/broken-html/", {
      headers: { "content-type": "text/html" },
      body: "\u0000\u0001binary junk",
    });
    bad.set("/simple/", jsonList(["good", "evil", "broken-json", "broken-html"]));

    first = await migrate([]);
  });
  after(async () => {
    await bad.close();
    await foreign.close();
    await dst.close();
    await tmp.cleanup();
  });

  async function migrate(
    extra: string[],
  ): Promise<{ code: number | null; outcomes: Outcome[]; stderr: string; stdout: string }> {
    const from = bad.url.replace("http://", "http://reader:hostile-src-secret@") + "simple/";
    const r = await runCli(
      [
        "migrate",
        "--from",
        from,
        "--to",
        dst.url,
        "--json",
        "--state",
        join(tmp.path, "state"),
        ...FAST,
        ...extra,
      ],
      { cwd: tmp.path },
    );
    const out = JSON.parse(r.stdout) as { outcomes: Outcome[] };
    return { code: r.code, outcomes: out.outcomes, stderr: r.stderr, stdout: r.stdout };
  }

  const outcomeOf = (filename: string): Outcome => {
    const o = first.outcomes.find((x) => x.filename === filename);
    assert.ok(o, `an outcome for ${JSON.stringify(filename.slice(0, 60))}`);
    return o;
  };

  test("the good files are copied byte for byte (one through a redirect to another host)", async () => {
    assert.equal(first.code, 1, "some files failed: exit 1");
    for (const g of good) assert.equal(outcomeOf(g.filename).outcome, "copied", g.filename);
    const there = await folderDigests(dstDir);
    assert.deepEqual(
      [...there.entries()].sort(),
      good.map((g) => [g.filename, g.sha]).sort(),
      "nothing else reached the destination",
    );
  });

  test("unsafe filenames (/, .., \\, NUL, absolute, 5000 characters) fail as BAD_FILENAME, never downloaded", () => {
    const unsafe = first.outcomes.filter((o) => o.code === "BAD_FILENAME");
    assert.equal(unsafe.length, 6, JSON.stringify(unsafe.map((o) => o.filename.slice(0, 40))));
    for (const o of unsafe) assert.match(o.reason ?? "", /unsafe distribution filename/);
    for (const i of [0, 1, 2, 3, 4, 5]) {
      assert.ok(!bad.seen.some((s) => s.path === `/files/x${i}`), `x${i} not fetched`);
    }
  });

  test("each broken file fails with its own code and reason", () => {
    const expect: [string, string, RegExp][] = [
      ["evil-2.0.tar.gz", "HASH_MISMATCH", /does not match the source's/],
      ["evil-3.0-py3-none-any.whl", "BAD_ARCHIVE", /not a readable zip archive/],
      ["evil-9.0.tar.gz", "BAD_ARCHIVE", /damaged gzip\/tar archive/],
      ["evil-4.0-py3-none-any.whl", "BAD_METADATA", /METADATA too large/],
      ["evil-10.0.tar.gz", "BAD_METADATA", /PKG-INFO too large/],
      [
        "evil-5.0-py3-none-any.whl",
        "BAD_METADATA",
        /metadata Name "other" does not match the filename's project "evil"/,
      ],
      ["evil-6.0.tar.gz", "UNSAFE_URL", /is on another host than the index/],
      ["evil-7.0.tar.gz", "HTTP", /too many redirects/],
      ["evil-8.0.tar.gz", "HTTP", /larger than the limit of 600 bytes/],
    ];
    for (const [filename, code, reason] of expect) {
      const o = outcomeOf(filename);
      assert.equal(o.outcome, "failed", filename);
      assert.equal(o.code, code, `${filename}: ${o.reason}`);
      assert.match(o.reason ?? "", reason, filename);
    }
  });

  test("malformed JSON and HTML pages fail their project with the URL; the run goes on", () => {
    assert.match(
      first.stderr,
      /project broken-json could not be listed: malformed index at http:\/\/127\.0\.0\.1:\d+\/simple\/broken-json\/: the project page is not valid JSON/,
    );
    assert.match(
      first.stderr,
      /project broken-html could not be listed: malformed index at .*broken-html\/: the project page is not HTML/,
    );
  });

  test("credentials go to the index host only: never to the foreign file host, not even after a redirect", () => {
    const header = "Basic " + Buffer.from("reader:hostile-src-secret").toString("base64");
    assert.ok(
      bad.seen.some((s) => s.path === "/simple/" && s.authorization === header),
      "positive control",
    );
    assert.ok(foreign.seen.length >= 1, "the redirect target was fetched");
    for (const s of foreign.seen) assert.equal(s.authorization, undefined, `${s.path} got no credentials`);
    assert.ok(!foreign.seen.some((s) => s.path.startsWith("/elsewhere/")), "the foreign file was refused");
    assert.ok(!(first.stdout + first.stderr).includes("hostile-src-secret"));
  });

  test("--allow-foreign-file-hosts fetches the foreign file, without credentials", async () => {
    const r = await migrate(["--allow-foreign-file-hosts", "--retry-failed", "--include", "evil"]);
    const o = r.outcomes.find((x) => x.filename === "evil-6.0.tar.gz");
    assert.equal(o?.outcome, "copied", JSON.stringify(o));
    const got = foreign.seen.filter((s) => s.path === "/elsewhere/evil-6.0.tar.gz");
    assert.equal(got.length, 1);
    assert.equal(got[0]?.authorization, undefined);
  });
});

describe("broken indexes", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let bad: HostileServer;
  let dst: ServeHandle;
  before(async () => {
    tmp = await tempDir();
    bad = await startHostile();
    dst = await startServe(join(tmp.path, "dst"));
  });
  after(async () => {
    await bad.close();
    await dst.close();
    await tmp.cleanup();
  });
  const migrate = (extra: string[] = []) =>
    runCli(
      [
        "migrate",
        "--from",
        bad.url + "simple/",
        "--to",
        dst.url,
        "--state",
        join(tmp.path, "s"),
        ...FAST,
        ...extra,
      ],
      {
        cwd: tmp.path,
      },
    );

  test("an index announcing api-version 2.x is refused with UNSUPPORTED_API_VERSION, nothing uploaded", async () => {
    bad.set("/simple/", jsonList(["a"], "2.0"));
    const r = await migrate();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /speaks simple API version 2\.0; pyreg understands 1\.x/);
    assert.equal(dst.server.uploads, 0);
  });

  test("an HTML index announcing 2.x is refused too; 1.x minor versions above 1.1 only warn", async () => {
    bad.set("/simple/", {
      headers: { "content-type": "text/html" },
      body: '<html><head><meta name="pypi:repository-version" content="2.1"></head><body></body></html>',
    });
    const r = await migrate();
    assert.equal(r.code, 2);
    assert.match(r.stderr, /version 2\.1/);
    bad.set("/simple/", jsonList([], "1.9"));
    const w = await migrate();
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stderr, /announces api-version 1\.9 \(newer than 1\.1\)/);
  });

  test("a malformed project list is an error naming the URL (exit 2), not an empty migration", async () => {
    bad.set("/simple/", { headers: { "content-type": "application/vnd.pypi.simple.v1+json" }, body: "[1,2" });
    const r = await migrate();
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /malformed index at http:\/\/127\.0\.0\.1:\d+\/simple\/: the project list is not valid JSON/,
    );
  });

  test("an enormous project list (300,000 names, ~10 MB of HTML) is read in full", async () => {
    const names = Array.from({ length: 300_000 }, (_, i) => `project-${i}`);
    bad.set("/simple/", {
      headers: { "content-type": "text/html" },
      body: `<html><body>${names.map((n) => `<a href="/simple/${n}/">${n}</a>`).join("\n")}</body></html>`,
    });
    bad.set("/simple/project-299999/", jsonPage("project-299999", []));
    // No clock here: how long it takes depends on the machine and its load; what is
    // asserted is that the last of 300,000 names was read and its project fetched.
    const r = await migrate(["--include", "project-299999"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(bad.seen.some((s) => s.path === "/simple/project-299999/"));
  });

  test("a gzip bomb as the project list stops at the 256 MiB cap with a clear error", async () => {
    const bomb = gzipSync(Buffer.alloc(300 * 1024 * 1024, 0x20));
    bad.set("/simple/", { headers: { "content-type": "text/html", "content-encoding": "gzip" }, body: bomb });
    const r = await migrate();
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /larger than the limit of 268435456 bytes/);
    assert.equal(dst.server.uploads, 0);
  });
});

/** Every file under `dir`, recursively. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

describe("credential hygiene", () => {
  const SRC = { username: "src-user", password: "Src-P@ss/w0rd:1%x" };
  const DST = { username: "dst-user", password: "dst-Tok3n-9f8e7d6c" };
  const NETRC = { username: "net-user", password: "netrc-S3cret-42" };
  const forms = (c: { username: string; password: string }): string[] => [
    c.password,
    encodeURIComponent(c.password),
    Buffer.from(c.password).toString("base64"),
    Buffer.from(`${c.username}:${c.password}`).toString("base64"),
  ];

  test("known secrets from URL userinfo, PYREG_FROM_/PYREG_TO_ variables and netrc appear nowhere", async () => {
    const tmp = await tempDir();
    const srcDir = join(tmp.path, "src");
    await mkdir(srcDir);
    await makeWheel(srcDir, { name: "secretive", version: "1.0" });
    await makeSdist(srcDir, { name: "secretive", version: "1.0" });
    const src = await startServe(srcDir, { auth: SRC, authReads: true });
    const dst = await startServe(join(tmp.path, "dst"), { auth: DST, authReads: true });
    const dst2 = await startServe(join(tmp.path, "dst2"), { auth: NETRC, authReads: true });
    // A destination that fails every upload and echoes the credentials it received.
    const echo = await startHostile();
    echo.set("/", (req, res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(
        `error; you sent ${req.headers.authorization ?? "nothing"} ${decodeURIComponent(req.url ?? "")}`,
      );
    });
    const work = join(tmp.path, "work");
    await mkdir(work);
    const netrc = join(tmp.path, "netrc");
    await writeFile(netrc, `machine 127.0.0.1 login ${NETRC.username} password ${NETRC.password}\n`, {
      mode: 0o600,
    });
    const userinfo = `${encodeURIComponent(SRC.username)}:${encodeURIComponent(SRC.password)}@`;
    const srcUrl = src.indexUrl.replace("http://", `http://${userinfo}`);
    const outputs: string[] = [];
    const run = async (args: string[], env: NodeJS.ProcessEnv, expect: number[]): Promise<void> => {
      const r = await runCli(args, { cwd: work, env: { NETRC: join(tmp.path, "no-netrc"), ...env } });
      outputs.push(r.stdout, r.stderr);
      assert.ok(expect.includes(r.code ?? -1), `exit ${r.code} for ${args[0]}: ${r.stderr}`);
    };
    try {
      await mkdir(join(work, "reports"));
      const report = join(work, "reports", "run");
      // 1. Source by URL userinfo, destination by PYREG_TO_*: success, with a report and state.
      const toEnv = { PYREG_TO_USERNAME: DST.username, PYREG_TO_PASSWORD: DST.password };
      await run(
        ["migrate", "--from", srcUrl, "--to", dst.url, "--json", "--report", report, ...FAST],
        toEnv,
        [0],
      );
      await run(["verify", "--from", srcUrl, "--to", dst.url, "--json"], toEnv, [0]);
      await run(["plan", "--from", srcUrl, "--to", dst.url, "--json"], toEnv, [0]);
      // 2. Source by PYREG_FROM_*, destination by netrc.
      const fromEnv = { PYREG_FROM_USERNAME: SRC.username, PYREG_FROM_PASSWORD: SRC.password, NETRC: netrc };
      await run(
        [
          "migrate",
          "--from",
          src.indexUrl,
          "--to",
          dst2.url,
          "--json",
          "--state",
          join(work, "st2"),
          ...FAST,
        ],
        fromEnv,
        [0],
      );
      // 3. Failures: wrong destination password (401), and a destination echoing what it got.
      await run(
        [
          "migrate",
          "--from",
          srcUrl,
          "--to",
          dst.url.replace("http://", "http://dst-user:wrong-password-0@"),
          "--json",
          "--state",
          join(work, "st3"),
          ...FAST,
        ],
        {},
        [1, 2],
      );
      await run(
        [
          "migrate",
          "--from",
          srcUrl,
          "--to",
          echo.url,
          "--json",
          "--state",
          join(work, "st4"),
          "--retries",
          "1",
          ...FAST,
        ],
        toEnv,
        [1, 2],
      );
      assert.ok(
        echo.seen.some(
          (s) =>
            s.authorization === "Basic " + Buffer.from(`${DST.username}:${DST.password}`).toString("base64"),
        ),
        "the echo server did receive the secret (so the search below is meaningful)",
      );
      assert.ok(outputs.join("").includes("you sent"), "the echoed answer reached the output, scrubbed");
      // Everything written: outputs, the report, every file of every state folder.
      const files = await allFiles(work);
      assert.ok(
        files.some((f) => f.includes(".pyreg") || f.includes("st2")),
        `a state folder exists: ${files.join(", ")}`,
      );
      assert.ok(existsSync(report + ".json"), "the report was written");
      const texts = [...outputs];
      for (const f of files)
        if ((await stat(f)).size < 50 * 1024 * 1024) texts.push((await readFile(f)).toString("latin1"));
      const hits: string[] = [];
      for (const secret of [...forms(SRC), ...forms(DST), ...forms(NETRC)]) {
        texts.forEach((t, i) => {
          if (t.includes(secret))
            hits.push(`${secret} in ${i < outputs.length ? `output ${i}` : files[i - outputs.length]}`);
        });
      }
      assert.deepEqual(hits, [], "zero hits");
    } finally {
      await src.close();
      await dst.close();
      await dst2.close();
      await echo.close();
      await tmp.cleanup();
    }
  });
});

describe("TLS", () => {
  const haveOpenssl = (() => {
    try {
      execFileSync("openssl", ["version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

  test(
    "verification is on by default; --ca-bundle trusts a self-managed CA; --insecure works and is warned",
    { skip: !haveOpenssl && "openssl not installed" },
    async () => {
      const tmp = await tempDir();
      const srcDir = join(tmp.path, "src");
      await mkdir(srcDir);
      await makeWheel(srcDir, { name: "tls-pkg", version: "1.0" });
      const serve = await startServe(srcDir);
      const { caFile, key, cert } = await makeTestTls(tmp.path);
      const tls = { key, cert };
      const proxy = await startFaultProxy({ target: serve.url, tls });
      try {
        assert.ok(proxy.indexUrl.startsWith("https://127.0.0.1:"));
        const env = { NODE_EXTRA_CA_CERTS: "", NODE_TLS_REJECT_UNAUTHORIZED: "" };
        const plain = await runCli(["list", proxy.indexUrl, "--json"], { cwd: tmp.path, env });
        assert.equal(plain.code, 2, plain.stderr);
        assert.match(plain.stderr, /TLS verification failed for https:\/\/127\.0\.0\.1:\d+\/simple\//);
        assert.match(plain.stderr, /--ca-bundle/);
        const trusted = await runCli(["list", proxy.indexUrl, "--json", "--ca-bundle", caFile], {
          cwd: tmp.path,
          env,
        });
        assert.equal(trusted.code, 0, trusted.stderr);
        assert.match(trusted.stdout, /tls_pkg-1\.0-py3-none-any\.whl/);
        assert.doesNotMatch(trusted.stderr, /insecure/i);
        const insecure = await runCli(["list", proxy.indexUrl, "--json", "--insecure"], {
          cwd: tmp.path,
          env,
        });
        assert.equal(insecure.code, 0, insecure.stderr);
        assert.match(insecure.stderr, /warning: --insecure: TLS certificates are NOT verified/);
      } finally {
        await proxy.close();
        await serve.close();
        await tmp.cleanup();
      }
    },
  );
});
