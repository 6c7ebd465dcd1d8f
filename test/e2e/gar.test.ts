/**
 * Google Artifact Registry, end to end: the real CLI (bin/pyreg) migrates into the fake Google Artifact Registry
 * (test/fakes/gar.ts) with google-auth-library reading a real service-account key file whose
 * token_uri is the fake's token endpoint.
 */
import { after, before, describe, test } from "node:test";
import { createHash } from "node:crypto";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeCorpus, type CorpusFile } from "../fixtures/dists.js";
import { FakeGar, makeServiceAccountKey } from "../fakes/gar.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

interface MigrateJson {
  counts: { copied: number; skipped: number; conflict: number; failed: number; filtered: number };
}

let tmp: { path: string; cleanup(): Promise<void> };
let corpusDir: string;
let corpus: CorpusFile[];
let fake: FakeGar;
let serve: ServeHandle;
let keyPath: string;

/** A clean environment: no real Google/gcloud configuration, no metadata server, no netrc. */
function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    HOME: tmp.path,
    CLOUDSDK_CONFIG: join(tmp.path, "gcloud"),
    NETRC: join(tmp.path, "none"),
    GCE_METADATA_HOST: "127.0.0.1:9",
    GOOGLE_APPLICATION_CREDENTIALS: keyPath,
    GOOGLE_ACCESS_TOKEN: "",
    PYREG_TO_USERNAME: "",
    PYREG_TO_PASSWORD: "",
    PYREG_GAR_API_BASE: fake.apiBase,
    PATH: "/nonexistent",
    ...extra,
  };
}

/** Runs the CLI in a working folder of its own per source/destination pair (its .pyreg state folder). */
async function cli(args: string[], extra: NodeJS.ProcessEnv = {}) {
  const pair = ["--from", "--to"].map((o) => args[args.indexOf(o) + 1] ?? "").join(" ");
  const cwd = join(tmp.path, "runs", createHash("sha256").update(pair).digest("hex").slice(0, 12));
  await mkdir(cwd, { recursive: true });
  return runCli(args, { env: env(extra), cwd, timeoutMs: 120_000 });
}

function assertSameFiles(project: string, repo: string): void {
  const there = [...fake.files(project, repo).values()].map((f) => [f.filename, f.sha256]).sort();
  assert.deepEqual(
    there,
    corpus.map((f) => [f.filename, f.sha256]).sort(),
    "the repository holds exactly the source's files, byte for byte",
  );
}

before(async () => {
  tmp = await tempDir("pyreg-e2e-gar-");
  corpusDir = join(tmp.path, "corpus");
  await mkdir(corpusDir);
  corpus = await makeCorpus(corpusDir);
  fake = await new FakeGar().start();
  keyPath = join(tmp.path, "key.json");
  await writeFile(
    keyPath,
    JSON.stringify(makeServiceAccountKey(fake, "migrator@proj.iam.gserviceaccount.com")),
  );
  serve = await startServe(corpusDir);
});
after(async () => {
  await serve.close();
  await fake.close();
  await tmp.cleanup();
});

describe("e2e: migrate into Google Artifact Registry (fake)", () => {
  test("a folder of fixtures → GAR (ADC key): every file with its sha256; verify passes; a rerun uploads nothing", async () => {
    fake.addRepository("proj", "from-folder");
    const to = `gar+${fake.repoUrl("proj", "from-folder")}`;
    const r = await cli(["migrate", "--from", corpusDir, "--to", to, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as MigrateJson;
    assert.equal(out.counts.copied, corpus.length, r.stderr);
    assertSameFiles("proj", "from-folder");
    const posts = fake.requests.filter((q) => q.method === "POST" && q.path === "/proj/from-folder/");
    assert.equal(posts.length, corpus.length, "one upload per file");
    assert.ok(posts.every((q) => q.auth === "basic:oauth2accesstoken"));

    const v = await cli(["verify", "--from", corpusDir, "--to", to]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const again = await cli(["migrate", "--from", corpusDir, "--to", to, "--json"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as MigrateJson).counts.copied, 0);
    assert.equal(
      fake.requests.filter((q) => q.method === "POST" && q.path === "/proj/from-folder/").length,
      posts.length,
    );
  });

  test("a simple-index source → a new GAR repository made by --create-repository; verify passes", async () => {
    const to = `gar+${fake.repoUrl("proj", "created")}`;
    const r = await cli([
      "migrate",
      "--from",
      serve.indexUrl,
      "--to",
      to,
      "--create-repository",
      "--location",
      "us-central1",
      "--description",
      "moved by pyreg",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /created Artifact Registry Python repository projects\/proj\/locations\/us-central1\/repositories\/created/,
    );
    assert.equal((JSON.parse(r.stdout) as MigrateJson).counts.copied, corpus.length);
    assertSameFiles("proj", "created");
    const v = await cli(["verify", "--from", serve.indexUrl, "--to", to]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test("list and plan name the kind, the index they read and the credential source", async () => {
    const repo = fake.repoUrl("proj", "from-folder");
    const to = `gar+${repo}`;
    const l = await cli(["list", to]);
    assert.equal(l.code, 0, l.stderr);
    assert.ok(
      l.stdout.includes(
        `Google Artifact Registry index ${repo}simple/ (credentials: ADC service account key ${keyPath}`,
      ),
      l.stdout,
    );
    for (const f of corpus) assert.ok(l.stdout.includes(f.filename), `list shows ${f.filename}`);
    const p = await cli(["plan", "--from", corpusDir, "--to", to]);
    assert.equal(p.code, 0, p.stderr);
    assert.ok(p.stdout.includes(`Google Artifact Registry ${repo} (index ${repo}simple/`), p.stdout);
    assert.match(p.stdout, new RegExp(`0 to copy .*${corpus.length} already there`));
  });

  test("a run that outlives its tokens (2 s lifetime) renews them and finishes", async () => {
    // No waiting: the fake's clock moves 0.5 s with each upload it receives, so its 2 s tokens
    // expire after four uploads whatever the machine's speed. pyreg, on its own clock, cannot see
    // that coming: it must take the 401, get a new token and send the file again. (Renewal
    // before expiry, on a clock both sides share, is test/gar.test.ts "ADC tokens with a 2 s
    // lifetime…".)
    fake.addRepository("proj", "long");
    fake.tokenLifetimeSec = 2;
    fake.uploadTakesMs = 500;
    const mark = fake.tokenRequests.filter((t) => t.ok).length;
    const firstRequest = fake.requests.length;
    try {
      const to = `gar+${fake.repoUrl("proj", "long")}`;
      const r = await cli(["migrate", "--from", corpusDir, "--to", to, "--concurrency", "2", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as MigrateJson).counts.copied, corpus.length, r.stderr);
      assertSameFiles("proj", "long");
      const posts = fake.requests
        .slice(firstRequest)
        .filter((q) => q.method === "POST" && q.path === "/proj/long/");
      assert.ok(posts.length >= corpus.length);
      const refused = posts.filter((q) => q.status === 401);
      assert.ok(refused.length >= 1, "the run outlived a token");
      // Each file was stored once (a 200), whatever was refused before.
      assert.equal(posts.filter((q) => q.status === 200).length, corpus.length);
      const tokens = fake.tokenRequests.filter((t) => t.ok).length - mark;
      assert.ok(tokens >= 2, `tokens fetched during the run: ${tokens}`);
      // A refused token was never sent again.
      const dead = new Set(refused.map((q) => q.credential));
      const after = posts.slice(posts.indexOf(refused[refused.length - 1] as (typeof posts)[number]) + 1);
      assert.ok(after.every((q) => q.status !== 200 || !dead.has(q.credential)));
    } finally {
      fake.tokenLifetimeSec = 3599;
      fake.uploadTakesMs = 0;
    }
  });

  test("a wrong key names the key file and the token endpoint's answer; nothing is uploaded", async () => {
    fake.addRepository("proj", "wrongkey");
    const good = makeServiceAccountKey(fake, "rotated@proj.iam.gserviceaccount.com");
    const stale = makeServiceAccountKey(fake, "x@proj.iam.gserviceaccount.com", { register: false });
    const wrongPath = join(tmp.path, "wrong.json");
    await writeFile(wrongPath, JSON.stringify({ ...good, private_key: stale.private_key }));
    const r = await cli(["migrate", "--from", corpusDir, "--to", `gar+${fake.repoUrl("proj", "wrongkey")}`], {
      GOOGLE_APPLICATION_CREDENTIALS: wrongPath,
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`ADC service account key ${wrongPath.replace(/[.]/g, "\\.")}`));
    assert.match(r.stderr, /Invalid JWT Signature/);
    assert.equal(fake.files("proj", "wrongkey").size, 0);
    assert.ok(!r.stderr.includes("PRIVATE KEY"));
  });

  test("an expired GOOGLE_ACCESS_TOKEN names GOOGLE_ACCESS_TOKEN and how to get a fresh one", async () => {
    const expired = fake.issueToken(-1);
    const r = await cli(["migrate", "--from", corpusDir, "--to", `gar+${fake.repoUrl("proj", "wrongkey")}`], {
      GOOGLE_ACCESS_TOKEN: expired,
      GOOGLE_APPLICATION_CREDENTIALS: "",
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /GOOGLE_ACCESS_TOKEN/);
    assert.match(r.stderr, /gcloud auth print-access-token/);
    assert.ok(!r.stderr.includes(expired) && !r.stdout.includes(expired), "the token never appears");
  });
});
