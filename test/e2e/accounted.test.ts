/**
 * Nothing dropped in silence: every project a source lists, every run and every odd source ends
 * in a state the output, the exit code and the report agree on. Through the real CLI against
 * real servers: nginx serving static files (a static PEP 503 index, and other servers' answers
 * reproduced as files), pyreg serve, and small loopback servers where a header must be seen.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { pip } from "../helpers/pip.js";
import { startServe } from "../helpers/serve.js";
import { startStaticSite, type StaticSite } from "../helpers/staticIndex.js";
import { tempDir } from "../helpers/tmp.js";

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

interface Wheel {
  filename: string;
  data: Buffer;
}

async function wheel(dir: string, name: string, version: string): Promise<Wheel> {
  const path = await makeWheel(dir, { name, version });
  return { filename: basename(path), data: await readFile(path) };
}

/** A PEP 503 project page linking the given files (relative URLs, sha256 fragments). */
function projectPage(files: Wheel[], extra = ""): string {
  return (
    `<!DOCTYPE html><html><body>\n` +
    files
      .map((f) => `<a href="../../files/${f.filename}#sha256=${sha(f.data)}"${extra}>${f.filename}</a><br>`)
      .join("\n") +
    `\n</body></html>\n`
  );
}

function projectList(names: string[]): string {
  return `<!DOCTYPE html><html><body>\n${names.map((n) => `<a href="${n}/">${n}</a><br>`).join("\n")}\n</body></html>\n`;
}

describe("case 1: a project the source lists but whose page fails is a project error", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let site: StaticSite;
  let good: Wheel;

  before(async () => {
    tmp = await tempDir();
    good = await wheel(join(tmp.path, "w"), "good-pkg", "1.0");
    // A static index (files on disk behind nginx) that lists ghost-pkg, whose page is missing.
    site = await startStaticSite({
      "/simple/": projectList(["good-pkg", "ghost-pkg"]),
      "/simple/good-pkg/": projectPage([good]),
      [`/files/${good.filename}`]: { body: good.data, contentType: "application/octet-stream" },
    });
  });
  after(async () => {
    await site.close();
    await tmp.cleanup();
  });

  test("list names ghost-pkg with its 404 and exits 1", async () => {
    const r = await runCli(["list", `${site.url}simple/`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /ghost-pkg.*404/);
    assert.match(r.stdout, /1 project could not be listed/);
  });

  test("migrate exits 1, names ghost-pkg, and its report is not a success", async () => {
    const dst = join(tmp.path, "dst");
    const state = join(tmp.path, "state");
    const r = await runCli(["migrate", "--from", `${site.url}simple/`, "--to", dst, "--state", state]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /project ghost-pkg could not be listed/);
    assert.match(r.stdout, /1 project not listed/);
    assert.ok(existsSync(join(dst, good.filename)), "the good project is still copied");
    const md = await readFile(join(state, "report.md"), "utf8");
    assert.match(md, /ghost-pkg.*404/);
    assert.match(md, /\*\*Result:\*\* NOT complete/);

    const v = await runCli(["verify", "--from", `${site.url}simple/`, "--to", dst, "--state", state]);
    assert.equal(v.code, 1, v.stdout + v.stderr);
    assert.match(v.stderr, /failed: project ghost-pkg could not be listed: .*404/);
    const rep = await runCli(["report", "--state", state]);
    assert.equal(rep.code, 1, rep.stderr);
    assert.match(rep.stdout, /ghost-pkg.*could not be listed/);
  });
});

describe("case 1 (devpi, pypiserver) and case 2: what is not an index is refused with a hint", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let site: StaticSite;
  let good: Wheel;

  before(async () => {
    tmp = await tempDir();
    good = await wheel(join(tmp.path, "w"), "good-pkg", "1.0");
    site = await startStaticSite({
      // devpi-server answers GET /USER/INDEX/ with its JSON API (devpi docs, "JSON API": the
      // "indexconfig" result lists the index's projects) and 404 for /USER/INDEX/NAME/; the simple
      // API is under /USER/INDEX/+simple/ (devpi-server's views.py, "+simple" routes).
      "/root/dev/": {
        contentType: "application/json",
        body: JSON.stringify({
          type: "indexconfig",
          result: { type: "stage", bases: [], volatile: true, projects: ["good-pkg", "other-pkg"] },
        }),
      },
      "/root/dev/+simple/": projectList(["good-pkg"]),
      "/root/dev/+simple/good-pkg/": projectPage([good]),
      // pypiserver's /packages/ is a listing of the stored files (pypiserver README, "/packages/"
      // route in pypiserver/_app.py), not a project list; its index is /simple/.
      "/packages/": `<html><head><title>Index of packages</title></head><body><h1>Index of packages</h1>\n<a href="${good.filename}">${good.filename}</a><br>\n<a href="other_pkg-2.0-py3-none-any.whl">other_pkg-2.0-py3-none-any.whl</a><br>\n</body></html>`,
      "/simple/": projectList(["good-pkg"]),
      "/simple/good-pkg/": projectPage([good]),
      [`/files/${good.filename}`]: { body: good.data, contentType: "application/octet-stream" },
      // An ordinary intranet page.
      "/intranet/": `<html><body><h1>Welcome</h1><a href="/about">about us</a> <a href="https://wiki.example/">the wiki</a></body></html>`,
      // An index whose project pages are all missing: the URL is not the index itself.
      "/mirror/": projectList(["a-pkg", "b-pkg", "c-pkg"]),
      "/mirror/+simple/": projectList(["good-pkg"]),
    });
  });
  after(async () => {
    await site.close();
    await tmp.cleanup();
  });

  test("devpi's index root (JSON API) is refused with the +simple/ URL to use", async () => {
    const r = await runCli(["migrate", "--from", `${site.url}root/dev/`, "--to", join(tmp.path, "d1")]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /not a simple index/);
    assert.ok(r.stderr.includes(`${site.url}root/dev/+simple/`), r.stderr);
    assert.ok(!existsSync(join(tmp.path, "d1", good.filename)));
  });

  test("pypiserver's /packages/ file listing is refused, pointing at /simple/", async () => {
    const r = await runCli(["list", `${site.url}packages/`]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /not a simple index.*distribution file/);
    assert.ok(r.stderr.includes(`${site.url}simple/`), r.stderr);
  });

  test("an intranet page is not an index (no 'about us' project)", async () => {
    const r = await runCli(["list", `${site.url}intranet/`]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /"about us" is not a project name/);
    assert.doesNotMatch(r.stdout, /about us/);
  });

  test("most project pages missing: stop with exit 2 and the index probably meant", async () => {
    const r = await runCli(["migrate", "--from", `${site.url}mirror/`, "--to", join(tmp.path, "d2")]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /3 of the 3 projects .* have no page there \(404\)/);
    assert.ok(r.stderr.includes(`${site.url}mirror/+simple/`), r.stderr);
  });

  test("pyreg serve's root is not its index: the hint names /simple/", async () => {
    const root = join(tmp.path, "serve");
    await mkdir(root, { recursive: true });
    await writeFile(join(root, good.filename), good.data);
    const srv = await startServe(root);
    try {
      const r = await runCli(["list", srv.url]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout, /^simple$/m);
      assert.ok(r.stderr.includes(srv.indexUrl), r.stderr);
    } finally {
      await srv.close();
    }
  });
});

describe("case 3: a run that failed never reads as success; validation leaves no state", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let srcDir: string;

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    await wheel(srcDir, "alpha", "1.0");
  });
  after(() => tmp.cleanup());

  test("--from ./nope and --to ./a-file: exit 2, a clear error, no state folder", async () => {
    const cwd = join(tmp.path, "cwd1");
    await mkdir(cwd);
    await writeFile(join(cwd, "a-file"), "not a folder");
    const r1 = await runCli(["migrate", "--from", "./nope", "--to", "./dst"], { cwd });
    assert.equal(r1.code, 2, r1.stderr);
    assert.match(r1.stderr, /source folder .*nope does not exist/);
    const r2 = await runCli(["migrate", "--from", srcDir, "--to", "./a-file"], { cwd });
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /a-file is a file, not a folder/);
    assert.doesNotMatch(r2.stderr, /EEXIST/);
    assert.ok(!existsSync(join(cwd, ".pyreg")), "no state folder left behind");
    assert.ok(!existsSync(join(cwd, "dst")));
  });

  test("a run that fails while listing leaves a report that says so", async () => {
    const cwd = join(tmp.path, "cwd2");
    await mkdir(cwd);
    // A port nothing listens on (taken from a server that is then closed).
    const gone = await startStaticSite({});
    const url = `${gone.url}simple/`;
    await gone.close();
    const r = await runCli(["migrate", "--from", url, "--to", "./dst", "--state", "st"], { cwd });
    assert.equal(r.code, 2, r.stderr);
    const md = await readFile(join(cwd, "st", "report.md"), "utf8");
    assert.match(md, /\*\*Result:\*\* NOT complete: the latest migrate run \(run 1\) failed/);
    assert.doesNotMatch(md, /every file is at the destination/);
    assert.doesNotMatch(md, /None: every file was copied/);
    const rep = await runCli(["report", "--state", "st"], { cwd });
    assert.equal(rep.code, 1, "the report's exit code agrees with its result");
  });

  test("pyreg report with several journals lists them and names --state", async () => {
    const cwd = join(tmp.path, "cwd3");
    await mkdir(cwd);
    for (const d of ["d1", "d2"]) {
      const r = await runCli(["migrate", "--from", srcDir, "--to", `./${d}`], { cwd });
      assert.equal(r.code, 0, r.stderr);
    }
    const rep = await runCli(["report"], { cwd });
    assert.equal(rep.code, 2, rep.stderr);
    assert.match(rep.stderr, /--state/);
    assert.match(rep.stderr, /from .*src to .*d1, last run: migrate done/);
    assert.match(rep.stderr, /from .*src to .*d2, last run: migrate done/);
  });
});

describe("cases 4 and 7: refused credentials stop the run; errors point the right way", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let srcDir: string;

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    await wheel(srcDir, "alpha", "1.0");
    await wheel(srcDir, "beta", "2.0");
  });
  after(() => tmp.cleanup());

  test("401 from the destination: exit 2, files not attempted (not uncertain), next run does not wait", async () => {
    const dst = await startServe(join(tmp.path, "dst"), {
      auth: { username: "u", password: "right" },
    });
    const state = join(tmp.path, "st401");
    const args = ["migrate", "--from", srcDir, "--to", dst.url, "--state", state, "--recheck-wait", "0"];
    try {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /401/);
      assert.match(r.stdout, /2 not attempted/);
      const report = JSON.parse(await readFile(join(state, "report.json"), "utf8")) as {
        files: { filename: string; outcome: string; reason: string }[];
        result: { complete: boolean };
      };
      assert.equal(report.result.complete, false);
      assert.deepEqual(
        report.files.map((f) => f.outcome),
        ["pending", "pending"],
      );
      const md = await readFile(join(state, "report.md"), "utf8");
      assert.match(md, /not attempted/);
      assert.doesNotMatch(md, /uncertain/);

      const again = await runCli(args, { env: { PYREG_TO_USERNAME: "u", PYREG_TO_PASSWORD: "wrong" } });
      assert.equal(again.code, 2, again.stdout + again.stderr);
      assert.doesNotMatch(again.stderr, /not confirmed/);

      const ok = await runCli(args, { env: { PYREG_TO_USERNAME: "u", PYREG_TO_PASSWORD: "right" } });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.equal(dst.server.uploads, 2);
    } finally {
      await dst.close();
    }
  });

  test("403 to a wrong password (pypiserver's answer) is not called 'accepted but lacking permission'", async () => {
    // pypiserver answers 403 (not 401) to a wrong password; its index lists nothing yet.
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.method === "POST") {
          res.writeHead(403, { "content-type": "text/plain" });
          res.end("Forbidden");
        } else {
          res.writeHead(404);
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runCli(
        [
          "migrate",
          "--from",
          srcDir,
          "--to",
          `http://u:wrong@127.0.0.1:${port}/`,
          "--state",
          join(tmp.path, "st403"),
        ],
        {},
      );
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /403/);
      assert.match(r.stderr, /refused these credentials/);
      assert.doesNotMatch(r.stderr, /were accepted/);
    } finally {
      server.close();
    }
  });

  test("https:// to a plain HTTP server says so, and does not suggest --insecure", async () => {
    const site = await startStaticSite({ "/simple/": projectList([]) });
    try {
      const https = site.url.replace("http://", "https://");
      const r = await runCli(["list", `${https}simple/`, "--retries", "0"]);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /does not speak TLS/);
      assert.ok(r.stderr.includes(`${site.url}simple/`), r.stderr);
      assert.doesNotMatch(r.stderr, /--insecure/);
    } finally {
      await site.close();
    }
  });
});

describe("case 8: credentials go only below the path they were given for", () => {
  test("two credential sets on one host; a third path gets none", async () => {
    const tmp = await tempDir();
    const w = await wheel(join(tmp.path, "w"), "pkg", "1.0");
    const seen: { method: string; path: string; auth: string }[] = [];
    let stored: { filename: string; sha256: string } | undefined;
    const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
    // One host: team-a's index (the source), team-b's upload endpoint and index (the
    // destination), and the source's file stored under /team-c/.
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        seen.push({ method: req.method ?? "", path, auth: req.headers.authorization ?? "" });
        const html = (body: string): void => {
          res.writeHead(200, { "content-type": "text/html" });
          res.end(`<!DOCTYPE html><html><body>${body}</body></html>`);
        };
        if (path === "/team-a/simple/") return html(`<a href="pkg/">pkg</a>`);
        if (path === "/team-a/simple/pkg/")
          return html(`<a href="/team-c/files/${w.filename}#sha256=${sha(w.data)}">${w.filename}</a>`);
        if (path === `/team-c/files/${w.filename}`) {
          res.writeHead(200, { "content-type": "application/octet-stream" });
          return res.end(w.data);
        }
        if (path === "/team-b/" && req.method === "POST") {
          const body = Buffer.concat(chunks).toString("latin1");
          const digest = /name="sha256_digest"\r\n\r\n([0-9a-f]{64})/.exec(body)?.[1] ?? "";
          const filename = /filename="([^"]+)"/.exec(body)?.[1] ?? "";
          stored = { filename, sha256: digest };
          res.writeHead(200);
          return res.end("OK");
        }
        if (path === "/team-b/simple/pkg/")
          return html(
            stored
              ? `<a href="/team-b/files/${stored.filename}#sha256=${stored.sha256}">${stored.filename}</a>`
              : "",
          );
        res.writeHead(404);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const r = await runCli([
        "migrate",
        "--from",
        `http://alice:pa@${host}/team-a/simple/`,
        "--to",
        `http://bob:pb@${host}/team-b/`,
        "--state",
        join(tmp.path, "st"),
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(seen.length >= 5, JSON.stringify(seen));
      for (const s of seen) {
        const want = s.path.startsWith("/team-a/")
          ? basic("alice", "pa")
          : s.path.startsWith("/team-b/")
            ? basic("bob", "pb")
            : "";
        assert.equal(s.auth, want, `${s.method} ${s.path}`);
      }
      assert.ok(
        seen.some((s) => s.path.startsWith("/team-c/")),
        "the file was fetched",
      );
    } finally {
      server.close();
      await tmp.cleanup();
    }
  });
});

describe("case 9: netrc and index HTML read as pip reads them", () => {
  test("a quoted netrc password after a macdef and comments reaches the registry", async () => {
    const tmp = await tempDir();
    const want = `Basic ${Buffer.from("me:two words").toString("base64")}`;
    const server = createServer((req, res) => {
      if (req.headers.authorization !== want) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="x"' });
        return res.end();
      }
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<!DOCTYPE html><html><body><a href="pkg/">pkg</a></body></html>`);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    try {
      const netrc = join(tmp.path, "netrc");
      await writeFile(
        netrc,
        `# credentials for the test registry\nmacdef init\nmachine 127.0.0.1 login macro password nope\n\n` +
          `machine 127.0.0.1 # the registry\n  login me\n  password "two words"\n`,
      );
      const r = await runCli(["list", `http://127.0.0.1:${port}/simple/`, "--retries", "0"], {
        env: { NETRC: netrc },
      });
      // The project list is read with the right credentials (pkg's page is not served: exit 1).
      assert.doesNotMatch(r.stderr, /401/);
      assert.match(r.stdout, /^pkg$/m);
    } finally {
      server.close();
      await tmp.cleanup();
    }
  });

  test("a link inside an HTML comment is not a file", async () => {
    const tmp = await tempDir();
    const w = await wheel(join(tmp.path, "w"), "pkg", "1.0");
    const site = await startStaticSite({
      "/simple/": projectList(["pkg"]),
      "/simple/pkg/":
        `<html><body><!-- <a href="../../files/pkg-0.9.tar.gz">pkg-0.9.tar.gz</a> -->\n` +
        `<a href="../../files/${w.filename}#sha256=${sha(w.data)}">${w.filename}</a></body></html>`,
      [`/files/${w.filename}`]: { body: w.data, contentType: "application/octet-stream" },
    });
    try {
      const r = await runCli(["list", `${site.url}simple/`, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { projects: { files: { filename: string }[] }[] };
      assert.deepEqual(
        out.projects.flatMap((p) => p.files.map((f) => f.filename)),
        [w.filename],
      );
    } finally {
      await site.close();
      await tmp.cleanup();
    }
  });
});

describe("case 5: every input file and every pattern is accounted for", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let srcDir: string;

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    await wheel(srcDir, "alpha", "1.0");
    await writeFile(join(srcDir, "README.txt"), "how to install\n");
    // An egg whose name has no version: its project and version cannot be read.
    await writeFile(join(srcDir, "alpha.egg"), "an old egg");
  });
  after(() => tmp.cleanup());

  test("a README and an egg in a folder source are named in list, plan and the report", async () => {
    const l = await runCli(["list", srcDir, "--json"]);
    assert.equal(l.code, 0, l.stderr);
    const listed = JSON.parse(l.stdout) as { ignored: { name: string; reason: string }[] };
    assert.deepEqual(listed.ignored.map((i) => i.name).sort(), ["README.txt", "alpha.egg"]);
    assert.match(
      listed.ignored.find((i) => i.name.endsWith(".egg"))?.reason ?? "",
      /an egg \(bdist_egg\) whose name is not NAME-VERSION/,
    );

    const p = await runCli(["plan", "--from", srcDir, "--to", join(tmp.path, "dst")]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /ignored +README\.txt/);
    assert.match(p.stdout, /2 files at the source ignored/);

    const state = join(tmp.path, "st");
    const m = await runCli(["migrate", "--from", srcDir, "--to", join(tmp.path, "dst"), "--state", state]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /2 ignored \(not distributions\)/);
    const md = await readFile(join(state, "report.md"), "utf8");
    assert.match(md, /## Ignored at the source/);
    assert.match(md, /README\.txt/);
    assert.match(md, /alpha\.egg \| an egg \(bdist_egg\) whose name is not/);
  });

  test("an egg an index lists under a name that is no egg's is reported with why it is not copied", async () => {
    const w = await wheel(join(tmp.path, "w"), "alpha", "1.0");
    const egg = "alpha.egg";
    const site = await startStaticSite({
      "/simple/": projectList(["alpha"]),
      "/simple/alpha/": `<html><body><a href="../../files/${w.filename}#sha256=${sha(w.data)}">${w.filename}</a><a href="../../files/${egg}">${egg}</a></body></html>`,
      [`/files/${w.filename}`]: { body: w.data, contentType: "application/octet-stream" },
    });
    try {
      const state = join(tmp.path, "st-egg");
      const m = await runCli([
        "migrate",
        "--from",
        `${site.url}simple/`,
        "--to",
        join(tmp.path, "dst-egg"),
        "--state",
        state,
      ]);
      assert.equal(m.code, 1, m.stdout + m.stderr);
      const md = await readFile(join(state, "report.md"), "utf8");
      assert.match(md, /alpha\.egg \| failed \(BAD_FILENAME\) \| an egg \(bdist_egg\) whose name is not/);
    } finally {
      await site.close();
    }
  });

  test("--include that matches nothing is a warning in text, JSON and the report", async () => {
    const state = join(tmp.path, "st2");
    const args = ["--from", srcDir, "--to", join(tmp.path, "dst2"), "--include", "alpah"];
    const m = await runCli(["migrate", ...args, "--state", state, "--json"]);
    // The selection rules (src/core/select/) say so for every rule that matched nothing.
    assert.match(m.stderr, /warning: --include alpah matched no project/);
    const out = JSON.parse(m.stdout) as { warnings: string[] };
    assert.deepEqual(out.warnings, ["--include alpah matched no project"]);
    const md = await readFile(join(state, "report.md"), "utf8");
    assert.match(md, /## Selection \(latest run\)\n\n- warning: --include alpah matched no project/);
    const l = await runCli(["list", srcDir, "--include", "alpah"]);
    assert.match(l.stderr, /warning: --include alpah matched no project/);
  });
});

describe("case 6: a file yanked at the source stays yanked, or is named to be yanked by hand", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let site: StaticSite;
  let v1: Wheel;
  let v2: Wheel;

  before(async () => {
    tmp = await tempDir();
    v1 = await wheel(join(tmp.path, "w"), "yk-pkg", "1.0");
    v2 = await wheel(join(tmp.path, "w"), "yk-pkg", "2.0");
    const link = (f: Wheel, extra = ""): string =>
      `<a href="../../files/${f.filename}#sha256=${sha(f.data)}"${extra}>${f.filename}</a><br>`;
    site = await startStaticSite({
      "/simple/": projectList(["yk-pkg"]),
      // PEP 592: data-yanked marks 2.0 as yanked, with its reason.
      "/simple/yk-pkg/": `<html><body>${link(v1)}${link(v2, ' data-yanked="broken build"')}</body></html>`,
      [`/files/${v1.filename}`]: { body: v1.data, contentType: "application/octet-stream" },
      [`/files/${v2.filename}`]: { body: v2.data, contentType: "application/octet-stream" },
    });
  });
  after(async () => {
    await site.close();
    await tmp.cleanup();
  });

  test("a folder destination keeps it, and pyreg serve of that folder serves it yanked (pip skips it)", async () => {
    const dst = join(tmp.path, "folder");
    const r = await runCli([
      "migrate",
      "--from",
      `${site.url}simple/`,
      "--to",
      dst,
      "--state",
      join(tmp.path, "s1"),
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((await readFile(join(dst, `${v2.filename}.yanked`), "utf8")).trim(), "broken build");
    const l = await runCli(["list", dst, "--json"]);
    const listed = JSON.parse(l.stdout) as {
      projects: { files: { filename: string; yanked?: unknown }[] }[];
    };
    const files = listed.projects.flatMap((p) => p.files);
    assert.equal(files.find((f) => f.filename === v2.filename)?.yanked, "broken build");
    assert.equal(files.find((f) => f.filename === v1.filename)?.yanked, undefined);

    const srv = await startServe(dst);
    try {
      const res = await fetch(`${srv.indexUrl}yk-pkg/`, {
        headers: { accept: "application/vnd.pypi.simple.v1+json" },
      });
      const page = (await res.json()) as { files: { filename: string; yanked: unknown }[] };
      assert.equal(page.files.find((f) => f.filename === v2.filename)?.yanked, "broken build");
      // Real pip: the yanked 2.0 is not chosen for an unpinned requirement.
      const out = join(tmp.path, "dl");
      await pip(["download", "--no-deps", "--index-url", srv.indexUrl, "--dest", out, "yk-pkg"]);
      assert.ok(existsSync(join(out, v1.filename)), "pip chose 1.0, not the yanked 2.0");
      assert.ok(!existsSync(join(out, v2.filename)));
    } finally {
      await srv.close();
    }
  });

  test("an upload destination: the summary and report name the file to yank by hand; verify reports it", async () => {
    const srv = await startServe(join(tmp.path, "up"));
    const state = join(tmp.path, "s2");
    try {
      const r = await runCli(["migrate", "--from", `${site.url}simple/`, "--to", srv.url, "--state", state]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const warned = new RegExp(
        `yanked at the source but not at the destination: 1 file .*${v2.filename.replace(/\./g, "\\.")}`,
      );
      assert.match(r.stderr, warned);
      const md = await readFile(join(state, "report.md"), "utf8");
      assert.match(md, /## Warnings/);
      assert.match(md, warned);
      const v = await runCli(["verify", "--from", `${site.url}simple/`, "--to", srv.url, "--state", state]);
      assert.equal(v.code, 1, v.stdout + v.stderr);
      assert.match(v.stdout, /yanked at the source \(broken build\), not at the destination/);
    } finally {
      await srv.close();
    }
  });
});
