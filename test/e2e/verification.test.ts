/**
 * What a hostile run showed, through the real CLI:
 * - a source index that lists one filename twice: identical listings are copied once, listings
 *   with different digests are a failed file and nothing is uploaded for it;
 * - a destination that stores other bytes but lists the digest the client sent (GitLab builds its
 *   index from the client's sha256_digest): migrate and verify read the bytes back and exit 1;
 * - a 200 "Upload of identical file" (devpi) is counted as already there, not copied;
 * - a destination that applies an upload some time after receiving it, and a client killed while
 *   it waits: the resumed run waits for that attempt's deadline and sends the file once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { basename, join } from "node:path";
import { FakeGitLab } from "../fakes/gitlab.js";
import { jsonList, startHostile, type HostileServer } from "../fakes/hostile.js";
import { makeWheel } from "../fixtures/dists.js";
import { PYREG_BIN, REPO_ROOT, runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

interface Out {
  filename: string;
  outcome: string;
  code?: string;
  reason?: string;
  verification?: { by: string; digest: string };
}

function outcomes(stdout: string, stderr: string): Out[] {
  try {
    return (JSON.parse(stdout) as { outcomes: Out[] }).outcomes;
  } catch {
    throw new Error(`not JSON:\n${stdout}\n--- stderr ---\n${stderr}`);
  }
}

function page(name: string, files: { filename: string; url: string; hashes: Record<string, string> }[]) {
  return {
    headers: { "content-type": "application/vnd.pypi.simple.v1+json" },
    body: JSON.stringify({ meta: { "api-version": "1.1" }, name, files }),
  };
}

describe("a source index listing one filename twice", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let src: HostileServer;
  let dst: ServeHandle;
  let same: { filename: string; data: Buffer };
  let other: { filename: string; data: Buffer };

  before(async () => {
    tmp = await tempDir();
    src = await startHostile();
    dst = await startServe(join(tmp.path, "dst"));
    const work = join(tmp.path, "work");
    const a = await makeWheel(work, { name: "twice", version: "1.0" });
    const b = await makeWheel(work, { name: "twice", version: "2.0" });
    const b2 = await makeWheel(join(work, "other"), {
      name: "twice",
      version: "2.0",
      summary: "other bytes",
    });
    same = { filename: basename(a), data: await readFile(a) };
    other = { filename: basename(b), data: await readFile(b) };
    const otherBytes = await readFile(b2);
    assert.notEqual(sha256(other.data), sha256(otherBytes));
    const serve = (path: string, data: Buffer): void =>
      src.set(path, { headers: { "content-type": "application/octet-stream" }, body: data });
    serve("/files/p1/a.whl", same.data);
    serve("/files/p2/a.whl", same.data);
    serve("/files/p1/b.whl", other.data);
    serve("/files/p2/b.whl", otherBytes);
    src.set("/simple/", jsonList(["twice"]));
    // As GitLab's group index read with a deploy token does when two projects hold one filename.
    src.set(
      "/simple/twice/",
      page("twice", [
        { filename: same.filename, url: "/files/p1/a.whl", hashes: { sha256: sha256(same.data) } },
        { filename: same.filename, url: "/files/p2/a.whl", hashes: { sha256: sha256(same.data) } },
        { filename: other.filename, url: "/files/p1/b.whl", hashes: { sha256: sha256(other.data) } },
        { filename: other.filename, url: "/files/p2/b.whl", hashes: { sha256: sha256(otherBytes) } },
      ]),
    );
  });
  after(async () => {
    await dst.close();
    await src.close();
    await tmp.cleanup();
  });

  test("identical listings are copied once; different ones fail and nothing is sent for them", async () => {
    const state = join(tmp.path, "state");
    const r = await runCli([
      "migrate",
      "--from",
      `${src.url}simple/`,
      "--to",
      dst.url,
      "--state",
      state,
      "--json",
    ]);
    assert.equal(r.code, 1, r.stderr);
    const out = outcomes(r.stdout, r.stderr);
    assert.deepEqual(
      out.map((o) => [o.filename, o.outcome, o.code ?? ""]).sort(),
      [
        [same.filename, "copied", ""],
        [other.filename, "failed", "DUPLICATE_LISTING"],
      ].sort(),
    );
    assert.match(
      out.find((o) => o.filename === other.filename)?.reason ?? "",
      /lists .* 2 times with different sha256/,
    );
    assert.equal(dst.server.uploads, 1, "one upload: the identical pair once, nothing for the other");
    const report = JSON.parse(await readFile(join(state, "report.json"), "utf8")) as {
      files: { filename: string; outcome: string; code?: string }[];
    };
    assert.equal(report.files.length, 2);
    assert.equal(report.files.find((f) => f.filename === other.filename)?.code, "DUPLICATE_LISTING");

    const v = await runCli([
      "verify",
      "--from",
      `${src.url}simple/`,
      "--to",
      dst.url,
      "--to-index",
      dst.indexUrl,
    ]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.match(v.stdout, new RegExp(`${other.filename.replace(/\./g, "\\.")}.*2 times`));
  });
});

describe("a destination whose index lists the digest the client sent (GitLab)", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let fake: FakeGitLab;
  let files: string[];

  before(async () => {
    tmp = await tempDir();
    // Its storage keeps other bytes than it received; its index still lists the client's sha256.
    fake = await new FakeGitLab({
      storeBytes: (data) =>
        data.length > 100 ? Buffer.concat([data.subarray(0, 100), Buffer.from("X")]) : data,
    }).start();
    fake.addGroup("dest");
    fake.addProject("dest/pypi");
    fake.addPersonalToken("glpat-verify000000000001", ["api"]);
    const a = await makeWheel(join(tmp.path, "src"), { name: "kept", version: "1.0" });
    const b = await makeWheel(join(tmp.path, "src"), { name: "kept", version: "2.0" });
    files = [basename(a), basename(b)];
  });
  after(async () => {
    await fake.close();
    await tmp.cleanup();
  });

  test("migrate and verify read the bytes back and fail with exit 1", async () => {
    const env = { PYREG_TO_PASSWORD: "glpat-verify000000000001" };
    const to = `gitlab+${fake.url}/dest/pypi`;
    const state = join(tmp.path, "state");
    const from = join(tmp.path, "src");
    const r = await runCli(["migrate", "--from", from, "--to", to, "--state", state, "--json"], { env });
    assert.equal(r.code, 1, r.stderr);
    const out = outcomes(r.stdout, r.stderr);
    assert.deepEqual(out.map((o) => [o.filename, o.outcome, o.code]).sort(), [
      [files[0], "failed", "CONTENT_MISMATCH"],
      [files[1], "failed", "CONTENT_MISMATCH"],
    ]);
    const md = await readFile(join(state, "report.md"), "utf8");
    assert.match(md, /CONTENT_MISMATCH/);

    const v = await runCli(["verify", "--from", from, "--to", to, "--json"], { env });
    assert.equal(v.code, 1, v.stdout + v.stderr);
    const vj = JSON.parse(v.stdout) as { counts: { different: number }; notVerified: { detail: string }[] };
    assert.equal(vj.counts.different, 2);
    assert.match(vj.notVerified[0]?.detail ?? "", /serves bytes with sha256/);

    // A run again does not take the index listing for the truth either.
    const again = await runCli(["migrate", "--from", from, "--to", to, "--state", state, "--json"], { env });
    assert.equal(again.code, 1, again.stderr);
  });
});

describe("verification kinds in the report", () => {
  test("GitLab: by downloaded content; pyreg serve: by the index listing, or by content with --verify-content", async () => {
    const tmp = await tempDir();
    const fake = await new FakeGitLab().start();
    const dst = await startServe(join(tmp.path, "dst"));
    try {
      fake.addGroup("dest");
      fake.addProject("dest/pypi");
      fake.addPersonalToken("glpat-verify000000000002", ["api"]);
      const w = await makeWheel(join(tmp.path, "src"), { name: "kinds", version: "1.0" });
      const from = join(tmp.path, "src");
      const runs: [string[], Record<string, string>, string][] = [
        [
          ["--to", `gitlab+${fake.url}/dest/pypi`],
          { PYREG_TO_PASSWORD: "glpat-verify000000000002" },
          "content:sha256",
        ],
        [["--to", dst.url], {}, "index:sha256"],
      ];
      for (const [to, env, want] of runs) {
        const state = join(tmp.path, `state-${want}`);
        const r = await runCli(["migrate", "--from", from, ...to, "--state", state, "--json"], { env });
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(
          outcomes(r.stdout, r.stderr).map((o) => [o.outcome, o.verification]),
          [["copied", { by: want.split(":")[0], digest: "sha256" }]],
        );
        const report = JSON.parse(await readFile(join(state, "report.json"), "utf8")) as {
          files: { filename: string; verification?: string }[];
          verifiedBy: Record<string, number>;
        };
        assert.equal(report.files[0]?.verification, want);
        assert.deepEqual(report.verifiedBy, { [want]: 1 });
        const md = await readFile(join(state, "report.md"), "utf8");
        assert.match(
          md,
          want.startsWith("content")
            ? /downloaded content \(sha256\) \| +1/
            : /index listing \(sha256\) \| +1/,
        );
      }
      const dst2 = await startServe(join(tmp.path, "dst2"));
      try {
        const r = await runCli([
          "migrate",
          "--from",
          from,
          "--to",
          dst2.url,
          "--verify-content",
          "--json",
          "--state",
          join(tmp.path, "s3"),
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(outcomes(r.stdout, r.stderr)[0]?.verification, { by: "content", digest: "sha256" });
        const v = await runCli(["verify", "--from", from, "--to", dst2.url, "--content", "--json"]);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.deepEqual((JSON.parse(v.stdout) as { verifiedBy: Record<string, number> }).verifiedBy, {
          "content:sha256": 1,
        });
      } finally {
        await dst2.close();
      }
      void w;
    } finally {
      await dst.close();
      await fake.close();
      await tmp.cleanup();
    }
  });
});

describe("a 200 that says the identical file is already there (devpi)", () => {
  test("is counted as already there, not copied", async () => {
    const tmp = await tempDir();
    const dst = await startHostile();
    try {
      const w = await makeWheel(join(tmp.path, "src"), { name: "same", version: "1.0" });
      const data = await readFile(w);
      const filename = basename(w);
      let posted = 0;
      // The index lists the file once it has been "uploaded" (another run stored it meanwhile).
      dst.set("/simple/same/", (_req, res) => {
        const files = posted
          ? [{ filename, url: `/files/${filename}`, hashes: { sha256: sha256(data) } }]
          : [];
        const p = page("same", files);
        res.writeHead(200, p.headers).end(p.body);
      });
      dst.set(`/files/${filename}`, { headers: { "content-type": "application/octet-stream" }, body: data });
      // devpi-server's abort_submit(request, 200, "Upload of identical file to non volatile index."):
      // a Pyramid HTTPException whose body starts with the status line and the title.
      dst.set("/", (req, res) => {
        req.resume();
        req.on("end", () => {
          posted++;
          res.writeHead(200, "Upload of identical file to non volatile index.", {
            "content-type": "text/plain",
          });
          res.end("200 Upload of identical file to non volatile index.\n\n\n\n");
        });
      });
      const r = await runCli([
        "migrate",
        "--from",
        join(tmp.path, "src"),
        "--to",
        dst.url,
        "--json",
        "--state",
        join(tmp.path, "s"),
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(posted, 1);
      const out = outcomes(r.stdout, r.stderr);
      assert.deepEqual(
        out.map((o) => o.outcome),
        ["skipped"],
      );
      assert.match(out[0]?.reason ?? "", /Upload of identical file/);
    } finally {
      await dst.close();
      await tmp.cleanup();
    }
  });
});

/**
 * A destination that applies an upload `applyAfterMs` after receiving it (and only then answers),
 * whether or not the client is still there: in front of pyreg serve.
 */
async function slowApplier(target: string, applyAfterMs: number) {
  const t = new URL(target);
  let posts = 0;
  let received: () => void = () => undefined;
  const firstReceived = new Promise<void>((r) => (received = r));
  const sockets = new Set<Socket>();
  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse | undefined): void => {
    const up = request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (res && !res.destroyed) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        } else answer.resume();
      },
    );
    up.on("error", () => res?.destroy());
    up.end(body);
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method !== "POST") return forward(req, body, res);
      posts++;
      received();
      setTimeout(() => forward(req, body, res), applyAfterMs);
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    get posts() {
      return posts;
    },
    firstReceived,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe("a resend only after the previous attempt's deadline", () => {
  test("a destination applies the upload late, the client is killed while it waits: sent once", async () => {
    const tmp = await tempDir();
    const dst = await startServe(join(tmp.path, "dst"));
    const proxy = await slowApplier(dst.url, 4000);
    try {
      await makeWheel(join(tmp.path, "src"), { name: "late", version: "1.0" });
      const args = [
        "migrate",
        "--from",
        join(tmp.path, "src"),
        "--to",
        proxy.url,
        "--to-index",
        dst.indexUrl,
        "--state",
        join(tmp.path, "state"),
        // The upload's request deadline: longer than the destination takes to apply it.
        "--deadline",
        "8",
        "--recheck-wait",
        "0",
      ];
      const child = spawn(process.execPath, [PYREG_BIN, ...args], {
        cwd: REPO_ROOT,
        env: { ...process.env, NO_COLOR: "1", CI: "true" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout.resume();
      child.stderr.resume();
      const closed = once(child, "close");
      // Killed once the destination holds the whole upload, before it applied it.
      await proxy.firstReceived;
      child.kill("SIGKILL");
      await closed;
      assert.equal(dst.server.uploads, 0, "not applied yet when the client died");

      const r = await runCli(args.concat("--json"));
      assert.equal(proxy.posts, 1, "the file was sent once");
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /request deadline/);
      assert.equal(dst.server.uploads, 1);
    } finally {
      await proxy.close();
      await dst.close();
      await tmp.cleanup();
    }
  });
});

describe("a destination index that publishes sha512 only (as CodeArtifact's does)", () => {
  test("files are compared by sha512 computed from the source's bytes; verify reads them back", async () => {
    const tmp = await tempDir();
    const dst = await startHostile();
    try {
      const a = await makeWheel(join(tmp.path, "src"), { name: "five", version: "1.0" });
      const b = await makeWheel(join(tmp.path, "src"), { name: "five", version: "2.0" });
      const b2 = await makeWheel(join(tmp.path, "other"), { name: "five", version: "2.0", summary: "other" });
      const sha512 = (d: Buffer): string => createHash("sha512").update(d).digest("hex");
      const same = await readFile(a);
      const other = await readFile(b2);
      dst.set(`/files/${basename(a)}`, {
        headers: { "content-type": "application/octet-stream" },
        body: same,
      });
      dst.set(`/files/${basename(b)}`, {
        headers: { "content-type": "application/octet-stream" },
        body: other,
      });
      // https://github.com/bazel-contrib/rules_python/issues/3972: `#sha512=` on CodeArtifact links.
      dst.set("/simple/five/", {
        headers: { "content-type": "text/html" },
        body:
          `<html><body><a href="/files/${basename(a)}#sha512=${sha512(same)}">${basename(a)}</a>` +
          `<a href="/files/${basename(b)}#sha512=${sha512(other)}">${basename(b)}</a></body></html>`,
      });
      const from = join(tmp.path, "src");
      const p = await runCli(["plan", "--from", from, "--to", dst.url]);
      assert.doesNotMatch(p.stdout + p.stderr, /without a sha256/);
      const r = await runCli([
        "migrate",
        "--from",
        from,
        "--to",
        dst.url,
        "--json",
        "--state",
        join(tmp.path, "s"),
      ]);
      assert.equal(r.code, 1, r.stderr);
      const out = outcomes(r.stdout, r.stderr).sort((x, y) => x.filename.localeCompare(y.filename));
      assert.deepEqual(
        out.map((o) => [o.filename, o.outcome]),
        [
          [basename(a), "skipped"],
          [basename(b), "conflict"],
        ],
      );
      assert.deepEqual(out[0]?.verification, { by: "index", digest: "sha512" });
      assert.ok(!dst.seen.some((q) => q.method === "POST"), "nothing uploaded");

      const v = await runCli(["verify", "--from", from, "--to", dst.url, "--json"]);
      assert.equal(v.code, 1, v.stdout + v.stderr);
      const vj = JSON.parse(v.stdout) as {
        counts: { ok: number; different: number; unverifiable: number };
        verifiedBy: Record<string, number>;
      };
      assert.deepEqual([vj.counts.ok, vj.counts.different, vj.counts.unverifiable], [1, 1, 0]);
      assert.deepEqual(vj.verifiedBy, { "content:sha256": 2 });
    } finally {
      await dst.close();
      await tmp.cleanup();
    }
  });
});

describe("CodeArtifact as the destination (its index lists sha512)", () => {
  test("uploads are confirmed by the sha512 in its index, computed while the files streamed", async () => {
    const { FakeCodeArtifact } = await import("../fakes/codeartifact.js");
    const AKID = "AKIAFAKEFAKEFAKE0002";
    const SECRET = "fake/secret/key/for/tests/only/0000000002";
    const tmp = await tempDir();
    const fake = await new FakeCodeArtifact(AKID, SECRET).start();
    try {
      await makeWheel(join(tmp.path, "src"), { name: "ca", version: "1.0" });
      await makeWheel(join(tmp.path, "src"), { name: "ca", version: "2.0" });
      const env = {
        AWS_ACCESS_KEY_ID: AKID,
        AWS_SECRET_ACCESS_KEY: SECRET,
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_CONFIG_FILE: "/nonexistent/config",
        AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
        NETRC: "/nonexistent",
        PYREG_CODEARTIFACT_DOMAIN: "my-domain",
        PYREG_CODEARTIFACT_DOMAIN_OWNER: "111122223333",
        PYREG_CODEARTIFACT_REGION: "eu-west-1",
        PYREG_CODEARTIFACT_ENDPOINT: fake.url,
      };
      const to = `codeartifact+${fake.url}/pypi/my-repo/`;
      const r = await runCli(
        ["migrate", "--from", join(tmp.path, "src"), "--to", to, "--json", "--state", join(tmp.path, "s")],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        outcomes(r.stdout, r.stderr).map((o) => [o.outcome, o.verification]),
        [
          ["copied", { by: "index", digest: "sha512" }],
          ["copied", { by: "index", digest: "sha512" }],
        ],
      );
      assert.ok(
        !fake.repoRequests.some((q) => q.method === "GET" && /\/files\//.test(q.path)),
        "nothing was read back",
      );
      // The folder source lists sha256, CodeArtifact sha512: nothing in common, so verify reads
      // the files back (it called them "unverifiable" before).
      const v = await runCli(["verify", "--from", join(tmp.path, "src"), "--to", to, "--json"], { env });
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.deepEqual((JSON.parse(v.stdout) as { verifiedBy: Record<string, number> }).verifiedBy, {
        "content:sha256": 2,
      });
    } finally {
      await fake.close();
      await tmp.cleanup();
    }
  });
});

describe("a destination index that lists md5 only (as older Artifactory did)", () => {
  test("each upload is read back and hashed; other bytes behind the right md5 fail", async () => {
    const tmp = await tempDir();
    const dst = await startHostile();
    try {
      const good = await makeWheel(join(tmp.path, "src"), { name: "m", version: "1.0" });
      const bad = await makeWheel(join(tmp.path, "src"), { name: "m", version: "2.0" });
      const md5 = (d: Buffer): string => createHash("md5").update(d).digest("hex");
      const bytes = new Map([
        [basename(good), await readFile(good)],
        [basename(bad), await readFile(bad)],
      ]);
      const uploaded = new Set<string>();
      // Uploads are accepted; the index then lists each uploaded file with the md5 of what was sent
      // (https://github.com/jazzband/pip-tools/issues/1135: Artifactory's links carried only
      // `#md5=`), and serves 2.0 with other bytes.
      dst.set("/", (req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("latin1");
          for (const name of bytes.keys()) if (body.includes(`filename="${name}"`)) uploaded.add(name);
          res.writeHead(200, { "content-type": "text/plain" }).end("");
        });
      });
      dst.set("/simple/m/", (_req, res) => {
        const links = [...uploaded].map(
          (n) => `<a href="/files/${n}#md5=${md5(bytes.get(n) as Buffer)}">${n}</a>`,
        );
        res
          .writeHead(200, { "content-type": "text/html" })
          .end(`<html><body>${links.join("")}</body></html>`);
      });
      dst.set(`/files/${basename(good)}`, { body: bytes.get(basename(good)) as Buffer });
      dst.set(`/files/${basename(bad)}`, { body: Buffer.from("not the wheel that was sent") });
      const r = await runCli([
        "migrate",
        "--from",
        join(tmp.path, "src"),
        "--to",
        dst.url,
        "--json",
        "--state",
        join(tmp.path, "s"),
      ]);
      assert.equal(r.code, 1, r.stderr);
      const out = outcomes(r.stdout, r.stderr).sort((x, y) => x.filename.localeCompare(y.filename));
      assert.deepEqual(
        out.map((o) => [o.filename, o.outcome, o.code, o.verification]),
        [
          [basename(good), "copied", undefined, { by: "content", digest: "sha256" }],
          [basename(bad), "failed", "CONTENT_MISMATCH", undefined],
        ],
      );
    } finally {
      await dst.close();
      await tmp.cleanup();
    }
  });
});
