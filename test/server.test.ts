/** `pyreg serve` server: simple API, files, uploads, auth and safety, over real HTTP on loopback. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { request } from "node:http";
import { connect } from "node:net";
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yazl from "yazl";
import { makeCorpus, makeSdist, makeWheel, type CorpusFile } from "./fixtures/dists.js";
import { multipartForm, startServe, uploadFields, type ServeHandle } from "./helpers/serve.js";
import { negotiate, projectPageJson, sortRows, versionsOf, type FileRow } from "../src/server/simple.js";
import { DEFAULT_LIMITS, MultipartError, parseMultipart } from "../src/server/multipart.js";
import { parseCredentials, runServe } from "../src/cli/serve.js";
import { PyregError } from "../src/core/errors.js";
import { seededRandom } from "./helpers/random.js";

const PIP_ACCEPT =
  "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
const JSON_TYPE = "application/vnd.pypi.simple.v1+json";

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A request whose path is sent exactly as given (fetch would normalize "..", node:http does not). */
function raw(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path,
        method: opts.method ?? "GET",
        headers: opts.headers,
        // A server that never answers fails the test instead of hanging the suite.
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.on("timeout", () =>
      req.destroy(new Error(`no answer to ${opts.method ?? "GET"} ${path} within 15 s`)),
    );
    req.end(opts.body);
  });
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;

async function upload(
  s: ServeHandle,
  fields: [string, string][],
  file: { filename: string; data: Buffer } | undefined,
  headers: Record<string, string> = {},
  after: [string, string][] = [],
): Promise<RawResponse> {
  const form = multipartForm(fields, file, undefined, after);
  return raw(s.url, "/", {
    method: "POST",
    headers: { "Content-Type": form.contentType, ...headers },
    body: form.body,
  });
}

/** Files visible in root (recursively, hidden folders included), and what is left in the temp folder. */
async function listRoot(root: string): Promise<{ files: string[]; tmp: string[] }> {
  const files = (await readdir(root, { recursive: true })).map(String).sort();
  const tmp = await readdir(join(root, ".pyreg-tmp")).catch(() => [] as string[]);
  return { files, tmp };
}

async function* iter(...chunks: Buffer[]): AsyncGenerator<Buffer> {
  yield* chunks;
}

/**
 * Waits for a state of the server (a file in its temp folder, a log line) that has no event to
 * listen to. The cap is far above any machine's pace: it only turns a hang into a failure.
 */
async function waitFor(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let polls = 0; !(await cond()); polls++) {
    if (polls > 6000) throw new Error("the awaited state never came (6000 polls)");
    await new Promise((r) => setTimeout(r, 20));
  }
}

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "pyreg-server-test-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("content negotiation", () => {
  test("pip's Accept gets JSON; HTML-only clients get HTML; nothing acceptable is undefined", () => {
    assert.equal(negotiate(PIP_ACCEPT), JSON_TYPE);
    assert.equal(negotiate(PIP_ACCEPT, true), "application/vnd.pypi.simple.v1+html");
    assert.equal(negotiate("text/html"), "text/html");
    assert.equal(negotiate(undefined), "text/html");
    assert.equal(negotiate("*/*"), "text/html");
    assert.equal(negotiate("application/vnd.pypi.simple.v1+html"), "application/vnd.pypi.simple.v1+html");
    assert.equal(negotiate("application/vnd.pypi.simple.latest+json"), JSON_TYPE);
    assert.equal(negotiate("application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.5"), "text/html");
    assert.equal(negotiate("text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.8"), "text/html");
    assert.equal(negotiate("application/json"), undefined);
  });
});

describe("multipart parser", () => {
  const boundary = "XbOuNdArY";
  const contentType = `multipart/form-data; boundary=${boundary}`;
  // Near-delimiters everywhere (every prefix of "\r\n--XbOuNdArY"), so that chunk edges of
  // every size fall inside one: none of them may end the file part.
  const near = Buffer.concat(
    Array.from({ length: 13 }, (_, n) => [
      Buffer.from("\r\n--XbOuNdArY".slice(0, n)),
      Buffer.from([n]),
    ]).flat(),
  );
  const data = Buffer.concat([
    Buffer.from("\r\n--XbOuNdAr"), // looks like a delimiter start but is not one
    near,
    Buffer.alloc(70_000, 7),
    near,
    near,
    Buffer.from("\r\n--XbOuNdARY"),
  ]);
  const body = multipartForm(
    [
      [":action", "file_upload"],
      ["classifiers", "A"],
      ["classifiers", "B"],
      ["description", "héllo\r\nworld"],
    ],
    { filename: "x-1.0.tar.gz", data },
    boundary,
  ).body;

  async function parseIn(
    chunkSize: number | (() => number) | Buffer[],
  ): Promise<{ fields: [string, string][]; file: Buffer; filename?: string }> {
    const chunks: Buffer[] = Array.isArray(chunkSize) ? chunkSize : [];
    for (let i = 0; !Array.isArray(chunkSize) && i < body.length;) {
      const n = typeof chunkSize === "number" ? chunkSize : chunkSize();
      chunks.push(body.subarray(i, i + n));
      i += n;
    }
    const got: Buffer[] = [];
    let filename: string | undefined;
    const res = await parseMultipart(
      (async function* () {
        yield* chunks;
      })(),
      contentType,
      (part) => {
        filename = part.filename;
        return { write: (c) => void got.push(Buffer.from(c)), end: () => undefined };
      },
    );
    return { fields: res.fields, file: Buffer.concat(got), ...(filename ? { filename } : {}) };
  }

  // 13 to 15: about the delimiter's length (CRLF "--" boundary), where the parser's tail handling
  // changes.
  for (const size of [1, 7, 12, 13, 14, 15, 16, 29, 4096, 1 << 20]) {
    test(`gives the same fields and file bytes with ${size}-byte chunks`, async () => {
      const r = await parseIn(size);
      assert.deepEqual(r.fields, [
        [":action", "file_upload"],
        ["classifiers", "A"],
        ["classifiers", "B"],
        ["description", "héllo\r\nworld"],
      ]);
      assert.equal(r.filename, "x-1.0.tar.gz");
      assert.equal(sha256(r.file), sha256(data));
    });
  }

  test("gives the same file bytes with random chunk sizes (seeded)", async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rand = seededRandom(seed);
      const r = await parseIn(() => 1 + Math.floor(rand() * 40));
      assert.equal(sha256(r.file), sha256(data), `seed ${seed}`);
      assert.equal(r.fields.length, 4, `seed ${seed}`);
    }
  });

  test("finds the file's closing delimiter wherever a chunk edge cuts it", async () => {
    // A field after the file, so that a long chunk follows the cut.
    const withTail = multipartForm([], { filename: "x-1.0.tar.gz", data }, boundary, [
      ["comment", "c".repeat(40)],
    ]);
    const end = withTail.body.indexOf(data) + data.length; // where CRLF "--" boundary starts
    for (let k = 0; k <= 14; k++) {
      const got: Buffer[] = [];
      const res = await parseMultipart(
        iter(withTail.body.subarray(0, end + k), withTail.body.subarray(end + k)),
        contentType,
        () => ({ write: (c) => void got.push(Buffer.from(c)), end: () => undefined }),
      );
      assert.equal(sha256(Buffer.concat(got)), sha256(data), `cut ${k} bytes into the delimiter`);
      assert.deepEqual(res.fields, [["comment", "c".repeat(40)]], `cut ${k}`);
    }
  });

  test("a body without its closing boundary is an error", async () => {
    await assert.rejects(
      parseMultipart(iter(body.subarray(0, body.length - 20)), contentType, () => undefined),
      (e: unknown) => e instanceof MultipartError && e.status === 400 && /Unexpected end/.test(e.message),
    );
  });

  test("an oversized field is refused with 413", async () => {
    const big = multipartForm([["description", "x".repeat(5000)]], undefined, boundary).body;
    const limits = { ...DEFAULT_LIMITS, maxFieldBytes: 1000 };
    await assert.rejects(
      parseMultipart(iter(big), contentType, () => undefined, limits),
      (e: unknown) => e instanceof MultipartError && e.status === 413,
    );
  });
});

describe("multipart limits (the library parser's, set by pyreg)", () => {
  const boundary = "LiMiTs";
  const contentType = `multipart/form-data; boundary=${boundary}`;
  const small = { ...DEFAULT_LIMITS, maxFields: 5, maxFiles: 1, maxFileBytes: 100 };
  const sink = (got: Buffer[]): { write(c: Buffer): void; end(): void } => ({
    write: (c) => void got.push(Buffer.from(c)),
    end: () => undefined,
  });
  const tooLarge = (re: RegExp) => (e: unknown) =>
    e instanceof MultipartError && e.status === 413 && re.test(e.message);

  test("field count: 5 fields pass, 6 are a 413", async () => {
    const fields = (n: number): [string, string][] => Array.from({ length: n }, (_, i) => [`f${i}`, "v"]);
    const five = await parseMultipart(
      iter(multipartForm(fields(5), undefined, boundary).body),
      contentType,
      () => undefined,
      small,
    );
    assert.equal(five.fields.length, 5);
    await assert.rejects(
      parseMultipart(
        iter(multipartForm(fields(6), undefined, boundary).body),
        contentType,
        () => undefined,
        small,
      ),
      tooLarge(/too many form fields/),
    );
  });

  test("file size: 100 bytes pass, 101 are a 413 and the sink never ends", async () => {
    const got: Buffer[] = [];
    const ok = multipartForm([], { filename: "a-1.0.tar.gz", data: Buffer.alloc(100, 1) }, boundary).body;
    const res = await parseMultipart(iter(ok), contentType, () => sink(got), small);
    assert.equal(Buffer.concat(got).length, 100);
    assert.equal(res.files.length, 1);
    let ended = false;
    const over = multipartForm([], { filename: "a-1.0.tar.gz", data: Buffer.alloc(101, 1) }, boundary).body;
    await assert.rejects(
      parseMultipart(
        iter(over),
        contentType,
        () => ({ write: () => undefined, end: () => void (ended = true) }),
        small,
      ),
      tooLarge(/too large/),
    );
    assert.equal(ended, false);
  });

  test("field size: a value of exactly the limit passes, one byte more is a 413", async () => {
    const limits = { ...DEFAULT_LIMITS, maxFieldBytes: 1000 };
    const at = await parseMultipart(
      iter(multipartForm([["description", "x".repeat(1000)]], undefined, boundary).body),
      contentType,
      () => undefined,
      limits,
    );
    assert.deepEqual(at.fields, [["description", "x".repeat(1000)]]);
    await assert.rejects(
      parseMultipart(
        iter(multipartForm([["description", "x".repeat(1001)]], undefined, boundary).body),
        contentType,
        () => undefined,
        limits,
      ),
      tooLarge(/form field "description" is too large/),
    );
  });

  test("a long field name is kept whole (a part's header block is bounded, not its name)", async () => {
    const name = "n".repeat(200);
    const res = await parseMultipart(
      iter(multipartForm([[name, "v"]], undefined, boundary).body),
      contentType,
      () => undefined,
    );
    assert.deepEqual(res.fields, [[name, "v"]]);
  });

  test("a text field typed application/octet-stream (no filename) stays a field, in its place", async () => {
    const typed = (name: string, value: string): string =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n${value}\r\n`;
    const form = multipartForm(
      [["name", "a"]],
      { filename: "a-1.0.tar.gz", data: Buffer.from("x") },
      boundary,
    );
    const cut = form.body.indexOf(`--${boundary}\r\nContent-Disposition: form-data; name="content"`);
    const body = Buffer.concat([
      form.body.subarray(0, cut),
      Buffer.from(typed("sha256_digest", "ab".repeat(32))),
      form.body.subarray(cut),
    ]);
    const got: Buffer[] = [];
    const seen: (string | undefined)[] = [];
    const res = await parseMultipart(iter(body), contentType, (part, before) => {
      seen.push(part.name, before.map(([k]) => k).join(","));
      return sink(got);
    });
    assert.deepEqual(res.fields, [
      ["name", "a"],
      ["sha256_digest", "ab".repeat(32)],
    ]);
    assert.deepEqual(seen, ["content", "name,sha256_digest"]);
    assert.deepEqual(
      res.files.map((f) => f.name),
      ["content"],
    );
    assert.equal(Buffer.concat(got).toString(), "x");
  });

  test("file count: a second file part is a 413", async () => {
    const form = multipartForm([], { filename: "a-1.0.tar.gz", data: Buffer.from("x") }, boundary).body;
    const twice = Buffer.concat([
      form.subarray(0, form.length - `--${boundary}--\r\n`.length),
      form.subarray(0, form.length),
    ]);
    await assert.rejects(
      parseMultipart(iter(twice), contentType, () => sink([]), small),
      tooLarge(/too many file parts/),
    );
  });

  test("the filename is given as sent (no basename taken), for the server to judge", async () => {
    let seen: string | undefined;
    const form = multipartForm(
      [],
      { filename: "../../up_pkg-1.0.tar.gz", data: Buffer.from("x") },
      boundary,
    ).body;
    await parseMultipart(iter(form), contentType, (part) => {
      seen = part.filename;
      return sink([]);
    });
    assert.equal(seen, "../../up_pkg-1.0.tar.gz");
  });

  test("not multipart, or no boundary: a 400", async () => {
    for (const type of [undefined, "application/json", "multipart/form-data"]) {
      await assert.rejects(
        parseMultipart(iter(Buffer.from("x")), type, () => undefined),
        (e: unknown) => e instanceof MultipartError && e.status === 400,
        String(type),
      );
    }
  });
});

describe("simple API and files", () => {
  let root: string;
  let corpus: CorpusFile[];
  let s: ServeHandle;
  before(async () => {
    root = join(work, "corpus");
    corpus = await makeCorpus(root);
    s = await startServe(root);
  });
  after(() => s.close());

  test("project list: JSON and HTML, api-version 1.1, Vary: Accept", async () => {
    const j = await raw(s.url, "/simple/", { headers: { Accept: PIP_ACCEPT } });
    assert.equal(j.status, 200);
    assert.equal(j.headers["content-type"], JSON_TYPE);
    assert.equal(j.headers["vary"], "Accept");
    const list = JSON.parse(j.body.toString()) as {
      meta: { "api-version": string };
      projects: { name: string }[];
    };
    assert.equal(list.meta["api-version"], "1.1");
    assert.deepEqual(
      list.projects.map((p) => p.name),
      [...new Set(corpus.map((c) => c.project))].sort(),
    );
    const h = await raw(s.url, "/simple/", { headers: { Accept: "text/html" } });
    assert.equal(h.headers["content-type"], "text/html; charset=utf-8");
    assert.match(h.body.toString(), /<meta name="pypi:repository-version" content="1.1">/);
    assert.match(h.body.toString(), /<a href="\/simple\/zope-interface-like\/">zope-interface-like<\/a>/);
  });

  test("project page order: PEP 440 versions in order, then versions it cannot read, then filename", () => {
    const versions = ["1.10", "1.0", "banana", "1.0rc1", "1.9", "1.0.post1", "apple", "2!0.1", "1.0.0"];
    const rows = versions.flatMap((version) =>
      ["z.whl", "a.tar.gz"].map(
        (suffix) => ({ file: { filename: `p-${version}-${suffix}`, version } }) as unknown as FileRow,
      ),
    );
    const shuffled = [...rows].reverse();
    const sorted = sortRows(shuffled).map((r) => r.file.filename);
    const order = versionsOf(shuffled);
    assert.deepEqual(order.slice(0, 5), ["1.0rc1", order[1], order[2], "1.0.post1", "1.9"]);
    assert.deepEqual(new Set(order.slice(1, 3)), new Set(["1.0", "1.0.0"]));
    assert.deepEqual(order.slice(5), ["1.10", "2!0.1", "apple", "banana"]);
    const byVersion = (vs: string[]): string[] => vs.flatMap((v) => [`p-${v}-a.tar.gz`, `p-${v}-z.whl`]);
    assert.deepEqual(sorted, [
      ...byVersion(["1.0rc1"]),
      // 1.0 and 1.0.0 are one PEP 440 version: their rows go by filename, together.
      ...byVersion(["1.0", "1.0.0"]).sort(),
      ...byVersion(["1.0.post1", "1.9", "1.10", "2!0.1", "apple", "banana"]),
    ]);
  });

  test("JSON project page: its versions in the order of its files, whatever order the folder listed them", () => {
    const row = (filename: string, version: string): FileRow =>
      ({
        file: { filename, version, size: 1, mtimeNs: 0n },
        facts: { sha256: "ab" },
      }) as unknown as FileRow;
    // 1.0.0 and 1.0 are one PEP 440 version: the page lists them as its files come, by filename.
    const page = JSON.parse(
      projectPageJson("p", [
        row("p-1.0.0-a.whl", "1.0.0"),
        row("p-1.0-b.whl", "1.0"),
        row("p-0.9-c.whl", "0.9"),
      ]),
    ) as { versions: string[]; files: { filename: string }[] };
    assert.deepEqual(
      page.files.map((f) => f.filename),
      ["p-0.9-c.whl", "p-1.0-b.whl", "p-1.0.0-a.whl"],
    );
    assert.deepEqual(page.versions, ["0.9", "1.0", "1.0.0"]);
  });

  test("JSON project page: every file with the right sha256, size, upload-time, core metadata", async () => {
    const r = await raw(s.url, "/simple/my-pkg/", { headers: { Accept: PIP_ACCEPT } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-type"], JSON_TYPE);
    interface JFile {
      filename: string;
      url: string;
      hashes: { sha256: string };
      "requires-python"?: string;
      "core-metadata": false | { sha256: string };
      "dist-info-metadata"?: unknown;
      size: number;
      "upload-time": string;
      yanked: boolean;
    }
    const page = JSON.parse(r.body.toString()) as {
      meta: { "api-version": string };
      name: string;
      versions: string[];
      files: JFile[];
    };
    assert.equal(page.meta["api-version"], "1.1");
    assert.equal(page.name, "my-pkg");
    assert.deepEqual(page.versions, ["1.0", "2.0.dev3"]);
    const expected = corpus.filter((c) => c.project === "my-pkg");
    assert.deepEqual(page.files.map((f) => f.filename).sort(), expected.map((c) => c.filename).sort());
    for (const f of page.files) {
      const c = expected.find((e) => e.filename === f.filename) as CorpusFile;
      assert.equal(f.hashes.sha256, c.sha256);
      assert.equal(f.size, c.size);
      assert.equal(f["requires-python"], ">=3.8");
      assert.match(f["upload-time"], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      assert.equal(f.yanked, false);
      const file = await raw(s.url, f.url);
      assert.equal(file.status, 200);
      assert.equal(sha256(file.body), c.sha256);
      assert.equal(Number(file.headers["content-length"]), c.size);
      if (c.kind === "wheel") {
        assert.ok(f["core-metadata"], `${f.filename} offers core metadata`);
        // PEP 714: never the old key, which pip 22.3 to 23.1 misread (a TypeError).
        assert.equal("dist-info-metadata" in f, false);
        const meta = await raw(s.url, `${f.url}.metadata`);
        assert.equal(meta.status, 200);
        assert.equal(sha256(meta.body), f["core-metadata"].sha256);
        assert.match(meta.body.toString(), /^Metadata-Version: 2\.\d\nName: my_pkg\n/);
      } else {
        assert.equal(f["core-metadata"], false);
        assert.equal((await raw(s.url, `${f.url}.metadata`)).status, 404);
      }
    }
  });

  test("HTML project page: sha256 in every link, escaped requires-python, core metadata attributes", async () => {
    const r = await raw(s.url, "/simple/zope-interface-like/", { headers: { Accept: "text/html" } });
    assert.equal(r.status, 200);
    const html = r.body.toString();
    assert.match(html, /<meta name="pypi:repository-version" content="1.1">/);
    const links = [...html.matchAll(/<a ([^>]*)>([^<]*)<\/a>/g)];
    const expected = corpus.filter((c) => c.project === "zope-interface-like");
    assert.equal(links.length, expected.length);
    for (const [, attrs, text] of links) {
      const c = expected.find((e) => e.filename === text) as CorpusFile;
      assert.ok(c, `unexpected link ${text}`);
      assert.ok(attrs?.includes(`#sha256=${c.sha256}"`), `${text}: sha256 in href`);
      if (c.version === "1.0.post1" && c.kind === "wheel") {
        assert.ok(attrs?.includes('data-requires-python="&gt;=3.11"'), attrs);
      }
      if (c.kind === "wheel") assert.match(attrs ?? "", /data-core-metadata="sha256=[0-9a-f]{64}"/);
      else assert.doesNotMatch(attrs ?? "", /core-metadata/);
      // PEP 714's new name only: pip before 23.2 reads the old one and mishandles it.
      assert.doesNotMatch(attrs ?? "", /dist-info-metadata/);
    }
  });

  test("non-normalized and slash-less project URLs redirect; unknown projects are 404; 406 when nothing fits", async () => {
    let r = await raw(s.url, "/simple/Zope.Interface_Like/");
    assert.equal(r.status, 301);
    assert.equal(r.headers["location"], "/simple/zope-interface-like/");
    r = await raw(s.url, "/simple/my-pkg");
    assert.equal(r.status, 301);
    assert.equal(r.headers["location"], "/simple/my-pkg/");
    r = await raw(s.url, "/simple");
    assert.equal(r.status, 301);
    assert.equal((await raw(s.url, "/simple/no-such-project/")).status, 404);
    r = await raw(s.url, "/simple/my-pkg/", { headers: { Accept: "application/json" } });
    assert.equal(r.status, 406);
  });

  test("HEAD of a file gives its length and no body; unknown files are 404", async () => {
    const c = corpus[0] as CorpusFile;
    const r = await raw(s.url, `/files/${encodeURIComponent(c.filename)}`, { method: "HEAD" });
    assert.equal(r.status, 200);
    assert.equal(Number(r.headers["content-length"]), c.size);
    assert.equal(r.body.length, 0);
    assert.equal((await raw(s.url, "/files/nothing-1.0.tar.gz")).status, 404);
  });

  test("path traversal is refused, raw and encoded", async () => {
    for (const path of [
      "/files/../package.json",
      "/files/%2e%2e/package.json",
      "/files/%2E%2E%2Fpackage.json",
      "/files/..%2f..%2fetc%2fpasswd",
      "/files/..\\package.json",
      "/simple/../../etc/passwd",
      "/files/%00x-1.0.tar.gz",
      "/files/%zz",
    ]) {
      const r = await raw(s.url, path);
      assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
      assert.doesNotMatch(r.body.toString(), /"name"|root:/, path);
    }
  });
});

describe("folder scanning", () => {
  test("symlinks leading outside the root and hidden folders are not served; links inside are", async () => {
    const root = join(work, "links");
    const outside = join(work, "outside");
    const inSub = await makeSdist(join(root, "sub"), { name: "inside", version: "1.0" });
    const out = await makeSdist(outside, { name: "secret", version: "1.0" });
    await makeSdist(outside, { name: "secret-dir", version: "1.0" });
    await symlink(out, join(root, "secret-1.0.tar.gz"));
    await symlink(outside, join(root, "outdir"));
    await symlink(inSub, join(root, "alias-2.0.tar.gz"));
    await mkdir(join(root, ".pyreg-tmp"), { recursive: true });
    await makeSdist(join(root, ".pyreg-tmp"), { name: "hidden", version: "1.0" });
    const s = await startServe(root);
    try {
      const r = await raw(s.url, "/simple/", { headers: { Accept: JSON_TYPE } });
      const names = (JSON.parse(r.body.toString()) as { projects: { name: string }[] }).projects.map(
        (p) => p.name,
      );
      assert.deepEqual(names.sort(), ["alias", "inside"]);
      assert.equal((await raw(s.url, "/files/secret-1.0.tar.gz")).status, 404);
      assert.equal((await raw(s.url, "/files/secret_dir-1.0.tar.gz")).status, 404);
      assert.equal((await raw(s.url, "/files/hidden-1.0.tar.gz")).status, 404);
      const alias = await raw(s.url, "/files/alias-2.0.tar.gz");
      assert.equal(alias.status, 200);
      assert.deepEqual(alias.body, await readFile(inSub));
      assert.ok(s.logs.some((l) => l.includes("points outside the root")));
    } finally {
      await s.close();
    }
  });

  test("a changed file is hashed again (cache keyed by size and mtime)", async () => {
    const root = join(work, "rehash");
    const src = join(work, "rehash-src");
    const a = await makeSdist(src, { name: "re", version: "1.0", summary: "first" });
    const target = join(root, "re-1.0.tar.gz");
    await mkdir(root, { recursive: true });
    await copyFile(a, target);
    const s = await startServe(root);
    try {
      const first = JSON.parse(
        (await raw(s.url, "/simple/re/", { headers: { Accept: JSON_TYPE } })).body.toString(),
      );
      assert.equal(first.files[0].hashes.sha256, sha256(await readFile(a)));
      const b = await makeSdist(join(src, "b"), {
        name: "re",
        version: "1.0",
        summary: "second, longer summary",
      });
      await copyFile(b, target);
      await utimes(target, new Date(2030, 0, 1), new Date(2030, 0, 1));
      const second = JSON.parse(
        (await raw(s.url, "/simple/re/", { headers: { Accept: JSON_TYPE } })).body.toString(),
      );
      assert.equal(second.files[0].hashes.sha256, sha256(await readFile(b)));
      assert.notEqual(second.files[0].hashes.sha256, first.files[0].hashes.sha256);
      assert.equal(
        second.files[0]["upload-time"],
        `${new Date(2030, 0, 1).toISOString().slice(0, 19)}.000000Z`,
      );
    } finally {
      await s.close();
    }
  });
});

describe("uploads", () => {
  let src: string;
  let wheel: Buffer;
  let wheelName: string;
  before(async () => {
    src = join(work, "upload-src");
    const p = await makeWheel(src, { name: "up_pkg", version: "1.0" });
    wheel = await readFile(p);
    wheelName = "up_pkg-1.0-py3-none-any.whl";
  });

  test("stores a new file, accepts the same file again as a no-op, refuses other bytes with 409", async () => {
    const root = join(work, "up-ok");
    const s = await startServe(root);
    try {
      const fields = await uploadFields("up-pkg", "1.0", "bdist_wheel", wheel);
      const r1 = await upload(s, fields, { filename: wheelName, data: wheel });
      assert.equal(r1.status, 200, r1.body.toString());
      assert.equal(s.server.uploads, 1);
      assert.deepEqual(await readFile(join(root, wheelName)), wheel);
      const page = await raw(s.url, "/simple/up-pkg/", { headers: { Accept: JSON_TYPE } });
      assert.equal(JSON.parse(page.body.toString()).files[0].hashes.sha256, sha256(wheel));

      const r2 = await upload(s, fields, { filename: wheelName, data: wheel });
      assert.equal(r2.status, 200);
      assert.match(r2.body.toString(), /identical/);
      assert.equal(s.server.uploads, 1);

      const other = await readFile(
        await makeWheel(join(src, "other"), { name: "up_pkg", version: "1.0", summary: "other" }),
      );
      assert.notEqual(sha256(other), sha256(wheel));
      const r3 = await upload(s, await uploadFields("up-pkg", "1.0", "bdist_wheel", other), {
        filename: wheelName,
        data: other,
      });
      assert.equal(r3.status, 409);
      assert.match(r3.body.toString(), /File already exists/);
      assert.deepEqual(await readFile(join(root, wheelName)), wheel, "the stored file is untouched");
      assert.equal(s.server.uploads, 1);
      assert.deepEqual(await listRoot(root), { files: [".pyreg-tmp", wheelName], tmp: [] });
    } finally {
      await s.close();
    }
  });

  test("filenames are unique without regard to case: EVIL-1.0-….whl beside evil-1.0-….whl is a 409, at once or later", async () => {
    const root = join(work, "up-case");
    const s = await startServe(root);
    try {
      const evil = await readFile(await makeWheel(join(src, "evil"), { name: "evil", version: "1.0" }));
      const other = await readFile(
        await makeWheel(join(src, "evil-other"), { name: "evil", version: "1.0", summary: "other" }),
      );
      const lower = "evil-1.0-py3-none-any.whl";
      const upper = "EVIL-1.0-py3-none-any.whl";
      const r1 = await upload(s, await uploadFields("evil", "1.0", "bdist_wheel", evil), {
        filename: lower,
        data: evil,
      });
      assert.equal(r1.status, 200, r1.body.toString());
      // Other bytes, and the same bytes, under the other case: both refused, nothing stored.
      for (const data of [other, evil]) {
        const r = await upload(s, await uploadFields("EVIL", "1.0", "bdist_wheel", data), {
          filename: upper,
          data,
        });
        assert.equal(r.status, 409, r.body.toString());
        assert.match(
          r.body.toString(),
          /already exists: evil-1\.0-py3-none-any\.whl .*without regard to case/,
        );
      }
      assert.deepEqual(await listRoot(root), { files: [".pyreg-tmp", lower], tmp: [] });

      // Three spellings at once, in a fresh folder: exactly one is stored, the others are 409s.
      for (let round = 0; round < 5; round++) {
        const root2 = join(work, `up-case-race-${round}`);
        const s2 = await startServe(root2);
        try {
          const answers = await Promise.all(
            [lower, upper, "Evil-1.0-py3-none-any.whl"].map(async (filename) =>
              upload(s2, await uploadFields("evil", "1.0", "bdist_wheel", evil), { filename, data: evil }),
            ),
          );
          const statuses = answers.map((a) => a.status).sort();
          assert.deepEqual(statuses, [200, 409, 409], answers.map((a) => a.body.toString()).join(""));
          const kept = (await readdir(root2)).filter((n) => !n.startsWith("."));
          assert.equal(kept.length, 1, kept.join(", "));
        } finally {
          await s2.close();
        }
      }
    } finally {
      await s.close();
    }
  });

  test("names on disk that differ only by case: the first one listed is served, the others are not, and an upload under another spelling is a 409", async () => {
    // The root's files come first, in name order ("E" before "e"), then its subfolders'.
    const root = join(work, "disk-case");
    await mkdir(join(root, "sub"), { recursive: true });
    const evil = await makeWheel(join(src, "disk-case-evil"), { name: "evil", version: "1.0" });
    const good = await makeWheel(join(src, "disk-case-good"), { name: "good", version: "1.0" });
    for (const name of ["Evil-1.0-py3-none-any.whl", "evil-1.0-py3-none-any.whl"])
      await copyFile(evil, join(root, name));
    await copyFile(evil, join(root, "sub", "EVIL-1.0-py3-none-any.whl"));
    await copyFile(good, join(root, "good-1.0-py3-none-any.whl"));
    await copyFile(good, join(root, "sub", "GOOD-1.0-py3-none-any.whl"));
    const logged: string[] = [];
    const s = await startServe(root, { log: (line) => logged.push(line) });
    try {
      const served = async (project: string): Promise<string[]> => {
        const r = await raw(s.url, `/simple/${project}/`, { headers: { Accept: JSON_TYPE } });
        assert.equal(r.status, 200, r.body.toString());
        return (JSON.parse(r.body.toString()) as { files: { filename: string }[] }).files.map(
          (f) => f.filename,
        );
      };
      assert.deepEqual(await served("evil"), ["Evil-1.0-py3-none-any.whl"]);
      assert.deepEqual(await served("good"), ["good-1.0-py3-none-any.whl"]);
      for (const name of [
        "evil-1.0-py3-none-any.whl",
        "sub/EVIL-1.0-py3-none-any.whl",
        "sub/GOOD-1.0-py3-none-any.whl",
      ])
        assert.ok(
          logged.some((l) => l.includes(`${join(root, name)}: another file with this name`)),
          `${name} not reported: ${logged.join("\n")}`,
        );
      const data = await readFile(evil);
      const r = await upload(s, await uploadFields("evil", "1.0", "bdist_wheel", data), {
        filename: "eViL-1.0-py3-none-any.whl",
        data,
      });
      assert.equal(r.status, 409, r.body.toString());
      assert.match(r.body.toString(), /already exists: Evil-1\.0-py3-none-any\.whl .*without regard to case/);
    } finally {
      await s.close();
    }
  });

  test("a file rewritten in place after a scan: its page, its download and an upload's check see the new bytes", async () => {
    // In a subfolder, so that an upload's "already there?" check goes through the scan, whose
    // entries a rescan reuses without a stat.
    const root = join(work, "up-rewrite");
    const target = join(root, "sub", wheelName);
    await mkdir(join(root, "sub"), { recursive: true });
    await writeFile(target, wheel);
    const s = await startServe(root);
    try {
      const page = async (): Promise<{ files: { hashes: { sha256: string }; size: number }[] }> =>
        JSON.parse((await raw(s.url, "/simple/up-pkg/", { headers: { Accept: JSON_TYPE } })).body.toString());
      assert.equal((await page()).files[0]?.hashes.sha256, sha256(wheel));
      const other = await readFile(
        await makeWheel(join(src, "rewrite"), {
          name: "up_pkg",
          version: "1.0",
          summary: "rewritten in place",
        }),
      );
      await writeFile(target, other);
      await utimes(target, new Date(2031, 0, 1), new Date(2031, 0, 1));
      const now = await page();
      assert.equal(now.files[0]?.hashes.sha256, sha256(other));
      assert.equal(now.files[0]?.size, other.length);
      const got = await raw(s.url, `/files/${wheelName}`);
      assert.deepEqual(got.body, other);
      assert.equal(got.headers.etag, `"${sha256(other)}"`);
      // The old bytes are now other bytes than the stored file's: a conflict, nothing written.
      const r = await upload(s, await uploadFields("up-pkg", "1.0", "bdist_wheel", wheel), {
        filename: wheelName,
        data: wheel,
      });
      assert.equal(r.status, 409, r.body.toString());
      const same = await upload(s, await uploadFields("up-pkg", "1.0", "bdist_wheel", other), {
        filename: wheelName,
        data: other,
      });
      assert.equal(same.status, 200, same.body.toString());
      assert.match(same.body.toString(), /identical/);
      await rm(target);
      assert.equal((await raw(s.url, `/files/${wheelName}`)).status, 404);
      assert.equal((await raw(s.url, "/simple/up-pkg/")).status, 404);
    } finally {
      await s.close();
    }
  });

  test("refuses invalid forms with 400 and a clear message, leaving nothing behind", async () => {
    const root = join(work, "up-bad");
    const s = await startServe(root);
    const ok = await uploadFields("up-pkg", "1.0", "bdist_wheel", wheel);
    const set = (k: string, v: string | undefined): [string, string][] => {
      const f = ok.filter(([n]) => n !== k);
      return v === undefined ? f : [...f, [k, v]];
    };
    const mismatched = await readFile(
      await makeWheel(join(src, "mm"), { name: "someone_else", version: "1.0" }),
    );
    const noMetadata = await new Promise<Buffer>((resolve) => {
      const z = new yazl.ZipFile();
      z.addBuffer(Buffer.from("x = 1\n"), "up_pkg/__init__.py");
      z.addBuffer(Buffer.from("Wheel-Version: 1.0\n"), "up_pkg-1.0.dist-info/WHEEL");
      z.end();
      const chunks: Buffer[] = [];
      z.outputStream.on("data", (c: Buffer) => chunks.push(c));
      z.outputStream.on("end", () => resolve(Buffer.concat(chunks)));
    });
    const cases: [string, [string, string][], { filename: string; data: Buffer } | undefined, RegExp][] = [
      [
        "bad sha256",
        set("sha256_digest", "0".repeat(64)),
        { filename: wheelName, data: wheel },
        /sha256_digest does not match/,
      ],
      // Without a sha256_digest before the file, md5 and BLAKE2b are computed and checked.
      [
        "bad md5, no sha256",
        [...set("md5_digest", "0".repeat(32)).filter(([n]) => n !== "sha256_digest")],
        { filename: wheelName, data: wheel },
        /md5_digest does not match/,
      ],
      [
        "bad blake2, no sha256",
        [...set("blake2_256_digest", "0".repeat(64)).filter(([n]) => n !== "sha256_digest")],
        { filename: wheelName, data: wheel },
        /blake2_256_digest/,
      ],
      [
        "no digest",
        ok.filter(([n]) => !n.endsWith("_digest")),
        { filename: wheelName, data: wheel },
        /Missing digest/,
      ],
      ["other name", set("name", "other"), { filename: wheelName, data: wheel }, /Form name/],
      ["other version", set("version", "2.0"), { filename: wheelName, data: wheel }, /Form version/],
      [
        "sdist filetype for a wheel",
        set("filetype", "sdist"),
        { filename: wheelName, data: wheel },
        /Invalid filetype/,
      ],
      ["no action", set(":action", undefined), { filename: wheelName, data: wheel }, /:action/],
      ["no name", set("name", undefined), { filename: wheelName, data: wheel }, /Missing form field: name/],
      ["no file", ok, undefined, /no form part named content/],
      [
        "unsafe filename",
        ok,
        { filename: "../up_pkg-1.0-py3-none-any.whl", data: wheel },
        /Invalid filename/,
      ],
      ["hidden filename", ok, { filename: ".up_pkg-1.0-py3-none-any.whl", data: wheel }, /Invalid filename/],
      ["not a distribution", ok, { filename: "up_pkg-1.0.exe", data: wheel }, /not a wheel, an sdist/],
      [
        "metadata names another project",
        await uploadFields("up-pkg", "1.0", "bdist_wheel", mismatched),
        { filename: wheelName, data: mismatched },
        /Metadata Name "someone_else"/,
      ],
      [
        "wheel without METADATA",
        await uploadFields("up-pkg", "1.0", "bdist_wheel", noMetadata),
        { filename: wheelName, data: noMetadata },
        /METADATA/,
      ],
      [
        "not a zip at all",
        await uploadFields("up-pkg", "1.0", "bdist_wheel", Buffer.from("hello")),
        { filename: wheelName, data: Buffer.from("hello") },
        /Cannot read the core metadata: up_pkg-1\.0-py3-none-any\.whl: not a readable zip archive/,
      ],
    ];
    try {
      for (const [label, fields, file, message] of cases) {
        const r = await upload(s, fields, file);
        assert.equal(r.status, 400, `${label}: ${r.body.toString()}`);
        assert.match(r.body.toString(), message, label);
      }
      // A sha256_digest sent only after the file: all three digests are computed and checked.
      const late = await upload(
        s,
        set("md5_digest", "0".repeat(32)).filter(([n]) => n !== "sha256_digest"),
        { filename: wheelName, data: wheel },
        {},
        [["sha256_digest", sha256(wheel)]],
      );
      assert.equal(late.status, 400, late.body.toString());
      assert.match(late.body.toString(), /md5_digest does not match/);
      const notForm = await raw(s.url, "/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: Buffer.from("{}"),
      });
      assert.equal(notForm.status, 400);
      assert.equal(s.server.uploads, 0);
      assert.deepEqual(await listRoot(root), { files: [".pyreg-tmp"], tmp: [] });
    } finally {
      await s.close();
    }
  });

  test("the temporary folder removed while serving is made again by the next upload", async () => {
    const root = join(work, "up-tmpgone");
    const s = await startServe(root);
    try {
      const first = await upload(s, await uploadFields("up-pkg", "1.0", "bdist_wheel", wheel), {
        filename: wheelName,
        data: wheel,
      });
      assert.equal(first.status, 200, first.body.toString());
      await rm(join(root, ".pyreg-tmp"), { recursive: true });
      const sdist = await readFile(await makeSdist(join(src, "tmpgone"), { name: "up_pkg", version: "1.0" }));
      const second = await upload(s, await uploadFields("up-pkg", "1.0", "sdist", sdist), {
        filename: "up_pkg-1.0.tar.gz",
        data: sdist,
      });
      assert.equal(second.status, 200, second.body.toString());
      assert.deepEqual(await listRoot(root), {
        files: [".pyreg-tmp", "up_pkg-1.0-py3-none-any.whl", "up_pkg-1.0.tar.gz"],
        tmp: [],
      });
    } finally {
      await s.close();
    }
  });

  test("an upload the server cannot store gets 500 at once (not a hung request), and the next one works", async () => {
    const root = join(work, "up-cannot-store");
    const s = await startServe(root);
    try {
      const fields = await uploadFields("up-pkg", "1.0", "bdist_wheel", wheel);
      // Served once (so the temporary folder is known), then the folder is a plain file.
      const sdist = await readFile(await makeSdist(join(src, "cannot"), { name: "up_pkg", version: "1.0" }));
      assert.equal(
        (
          await upload(s, await uploadFields("up-pkg", "1.0", "sdist", sdist), {
            filename: "up_pkg-1.0.tar.gz",
            data: sdist,
          })
        ).status,
        200,
      );
      await rm(join(root, ".pyreg-tmp"), { recursive: true });
      await writeFile(join(root, ".pyreg-tmp"), "not a folder");
      const r = await upload(s, fields, { filename: wheelName, data: wheel });
      assert.equal(r.status, 500, r.body.toString());
      await rm(join(root, ".pyreg-tmp"));
      const again = await upload(s, fields, { filename: wheelName, data: wheel });
      assert.equal(again.status, 200, again.body.toString());
    } finally {
      await s.close();
    }
  });

  test("an upload over the size limit gets 413 and leaves nothing", async () => {
    const root = join(work, "up-big");
    const s = await startServe(root, { maxUploadBytes: 1000 });
    try {
      const r = await upload(s, await uploadFields("up-pkg", "1.0", "bdist_wheel", wheel), {
        filename: wheelName,
        data: wheel,
      });
      assert.equal(r.status, 413);
      assert.deepEqual(await listRoot(root), { files: [".pyreg-tmp"], tmp: [] });
    } finally {
      await s.close();
    }
  });

  test("a connection cut mid-body leaves no file and no temporary file", async () => {
    const root = join(work, "up-cut");
    const s = await startServe(root);
    try {
      // Larger than what is received in memory (1 MiB), twice: half of it reaches the disk.
      const big = Buffer.concat([wheel, Buffer.alloc(4 * 1024 * 1024, 1)]);
      const form = multipartForm(await uploadFields("up-pkg", "1.0", "bdist_wheel", big), {
        filename: wheelName,
        data: big,
      });
      const u = new URL(s.url);
      const sock = connect(Number(u.port), u.hostname);
      await new Promise<void>((r) => sock.once("connect", () => r()));
      sock.write(
        `POST / HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: ${form.contentType}\r\n` +
          `Content-Length: ${form.body.length}\r\n\r\n`,
      );
      sock.write(form.body.subarray(0, Math.floor(form.body.length / 2)));
      // Wait until the server has written part of the file to its temp folder, then cut.
      await waitFor(async () => (await listRoot(root)).tmp.length === 1);
      sock.destroy();
      await waitFor(() => s.logs.some((l) => l.startsWith("POST / ")));
      const afterCut = await listRoot(root);
      assert.deepEqual(afterCut, { files: [".pyreg-tmp"], tmp: [] });
      assert.equal(s.server.uploads, 0);
      assert.match(s.logs.find((l) => l.startsWith("POST / ")) ?? "", /connection closed early/);
      // The server still works.
      assert.equal((await raw(s.url, "/simple/")).status, 200);
    } finally {
      await s.close();
    }
  });
});

describe("authentication", () => {
  let wheel: Buffer;
  const wheelName = "auth_pkg-1.0-py3-none-any.whl";
  before(async () => {
    wheel = await readFile(await makeWheel(join(work, "auth-src"), { name: "auth_pkg", version: "1.0" }));
  });

  test("uploads need the credentials; reads stay open; 401 says WWW-Authenticate; logs never hold them", async () => {
    const root = join(work, "auth-up");
    const s = await startServe(root, { auth: { username: "alice", password: "s3cret-pw" } });
    try {
      const fields = await uploadFields("auth-pkg", "1.0", "bdist_wheel", wheel);
      const attempts: Record<string, string>[] = [
        {},
        { Authorization: basic("alice", "wrong") },
        { Authorization: basic("bob", "s3cret-pw") },
      ];
      for (const headers of attempts) {
        const r = await upload(s, fields, { filename: wheelName, data: wheel }, headers);
        assert.equal(r.status, 401);
        assert.equal(r.headers["www-authenticate"], 'Basic realm="pyreg"');
      }
      assert.equal(s.server.uploads, 0);
      const ok = await upload(
        s,
        fields,
        { filename: wheelName, data: wheel },
        { Authorization: basic("alice", "s3cret-pw") },
      );
      assert.equal(ok.status, 200, ok.body.toString());
      assert.equal(s.server.uploads, 1);
      assert.equal((await raw(s.url, "/simple/auth-pkg/")).status, 200);
      assert.equal((await raw(s.url, `/files/${wheelName}`)).status, 200);
      const logs = s.logs.join("\n");
      assert.doesNotMatch(logs, /s3cret|alice|YWxpY2U/);
      assert.match(logs, /^POST \/ 401 \d+B \d+ms/m);
      assert.match(logs, /^GET \/simple\/auth-pkg\/ 200 \d+B \d+ms html$/m);
    } finally {
      await s.close();
    }
  });

  test("with authReads, reads need the credentials too", async () => {
    const root = join(work, "auth-reads");
    await mkdir(root, { recursive: true });
    await writeFile(join(root, wheelName), wheel);
    const s = await startServe(root, { auth: { username: "alice", password: "pw" }, authReads: true });
    try {
      for (const path of ["/simple/", "/simple/auth-pkg/", `/files/${wheelName}`]) {
        const r = await raw(s.url, path);
        assert.equal(r.status, 401, path);
        assert.equal(r.headers["www-authenticate"], 'Basic realm="pyreg"');
        const ok = await raw(s.url, path, { headers: { Authorization: basic("alice", "pw") } });
        assert.equal(ok.status, 200, path);
      }
    } finally {
      await s.close();
    }
  });
});

describe("pyreg serve command", () => {
  test("a DIR that is a file and a port in use are clear errors", async () => {
    const file = join(work, "not-a-folder");
    await writeFile(file, "x");
    await assert.rejects(runServe(file, { host: "127.0.0.1", port: 0 }), (e: unknown) => {
      return e instanceof PyregError && e.code === "CONFIG" && /is not a folder/.test(e.message);
    });
    const s = await startServe(join(work, "busy"));
    const port = Number(new URL(s.url).port);
    try {
      await assert.rejects(runServe(join(work, "busy2"), { host: "127.0.0.1", port }), (e: unknown) => {
        return e instanceof PyregError && e.message === `port ${port} on 127.0.0.1 is already in use`;
      });
    } finally {
      await s.close();
    }
  });

  test("credentials: USER:PASSWORD with a colon in the password; empty parts refused", () => {
    assert.deepEqual(parseCredentials("u:p:q", "--auth"), { username: "u", password: "p:q" });
    assert.throws(() => parseCredentials("u:", "--auth"), /USER:PASSWORD/);
    assert.throws(() => parseCredentials("nopassword", "--auth"), /USER:PASSWORD/);
  });
});
