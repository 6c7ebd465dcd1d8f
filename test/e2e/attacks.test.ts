/**
 * What a hostile test of pyreg broke, each checked through the real CLI: secrets with every
 * URL-special character, a stale lock raced by many runs, two state folders for one destination,
 * directories that cannot be made, archive readers fed millions of entries, leftovers, and errors
 * that misled.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { makeSdist, makeWheel } from "../fixtures/dists.js";
import { FAST_RETRY_ARGS } from "../fakes/faultProxy.js";
import { runCli, type CliResult } from "../helpers/cli.js";
import { seededRandom } from "../helpers/random.js";
import { startServe } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

const FAST = FAST_RETRY_ARGS;

/** Every file under `dir`, recursively. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

/** Every row of every table of a journal, as text. */
function dumpJournal(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    assert.ok(tables.length >= 5, "the journal has its tables");
    return tables
      .map((t) => `${t.name}: ${JSON.stringify(db.prepare(`SELECT * FROM "${t.name}"`).all())}`)
      .join("\n");
  } finally {
    db.close();
  }
}

describe("secrets with every URL-special character", () => {
  const SPECIAL = ["@", ":", "/", "?", "#", "%", " ", "é", "日", "€"];
  const random = seededRandom(1515);
  const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  const chunk = (n: number): string =>
    Array.from({ length: n }, () => alnum[Math.floor(random() * alnum.length)]).join("");
  /** A password holding every special character, in a random order, between random letters. */
  const password = (): string => {
    const specials = [...SPECIAL].sort(() => random() - 0.5);
    return chunk(3) + specials.map((c) => c + chunk(3)).join("");
  };
  /** As a person types it in a URL: `@`, `:`, space and non-ASCII as they are (pip and WHATWG
   * split the userinfo at the last `@`); `/ ? # %` must be percent-encoded in any URL. */
  const typed = (p: string): string => p.replace(/[/?#%]/g, (c) => encodeURIComponent(c));
  /** Every window of `n` characters, in each form the secret can take in text. */
  const fragments = (p: string, n = 6): string[] => {
    const out = new Set<string>();
    const whatwg = new URL("http://h/");
    whatwg.password = p;
    for (const form of [p, typed(p), encodeURIComponent(p), whatwg.password]) {
      for (let i = 0; i + n <= form.length; i++) out.add(form.slice(i, i + n));
    }
    return [...out];
  };

  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.cleanup();
  });

  for (let round = 0; round < 3; round++) {
    test(`round ${round}: no output, report, journal row or temporary file holds any part of the passwords`, async () => {
      const SRC = { username: "alice", password: password() };
      const DST = { username: "bob", password: password() };
      const root = join(tmp.path, `r${round}`);
      const srcDir = join(root, "src");
      const work = join(root, "work");
      const tmpDir = join(root, "tmp");
      await mkdir(srcDir, { recursive: true });
      await mkdir(work);
      await mkdir(tmpDir);
      await makeWheel(srcDir, { name: "secretive", version: "1.0" });
      await makeSdist(srcDir, { name: "secretive", version: "1.0" });
      const src = await startServe(srcDir, { scanTtlMs: 0, auth: SRC, authReads: true });
      const dst = await startServe(join(root, "dst"), { scanTtlMs: 0, auth: DST, authReads: true });
      const from = src.indexUrl.replace("http://", `http://${SRC.username}:${typed(SRC.password)}@`);
      const to = dst.url.replace("http://", `http://${DST.username}:${typed(DST.password)}@`);
      const wrongTo = dst.url.replace("http://", `http://${DST.username}:${typed(DST.password)}x@`);
      const outputs: string[] = [];
      const run = async (args: string[], expect: number[]): Promise<CliResult> => {
        const r = await runCli(args, { cwd: work, env: { TMPDIR: tmpDir, NETRC: join(root, "none") } });
        outputs.push(r.stdout, r.stderr);
        assert.ok(expect.includes(r.code ?? -1), `exit ${r.code} for ${args.join(" ")}: ${r.stderr}`);
        return r;
      };
      try {
        const report = join(work, "out", "run.json");
        await mkdir(join(work, "out"));
        const state = join(work, "state");
        const m = await run(
          ["migrate", "--from", from, "--to", to, "--state", state, "--report", report, ...FAST],
          [0],
        );
        assert.match(m.stderr + m.stdout, /2 copied/);
        assert.equal(dst.server.uploads, 2, "the passwords were used: both files arrived");
        await run(["verify", "--from", from, "--to", to, "--state", state, "--json"], [0]);
        await run(["report", "--state", state], [0]);
        // A wrong password (the right one and one more letter) fails: its error is printed too.
        await run(
          ["migrate", "--from", from, "--to", wrongTo, "--state", join(work, "st2"), ...FAST],
          [1, 2],
        );
        const files = [...(await allFiles(work)), ...(await allFiles(tmpDir))];
        assert.ok(existsSync(report) && existsSync(join(state, "report.md")), "the reports were written");
        const texts: [string, string][] = outputs.map((o, i) => [`output ${i}`, o]);
        for (const f of files) {
          if ((await stat(f)).size > 50 * 1024 * 1024) continue;
          const bytes = await readFile(f);
          texts.push([f, bytes.toString("utf8")], [f + " (latin1)", bytes.toString("latin1")]);
          if (f.endsWith("journal.sqlite")) texts.push([f + " (tables)", dumpJournal(f)]);
        }
        assert.ok(
          texts.some(([w, t]) => w.endsWith("(tables)") && t.includes("--report") && t.includes("127.0.0.1")),
          "the search below looks at the recorded command lines",
        );
        const hits: string[] = [];
        for (const secret of [SRC.password, DST.password]) {
          for (const frag of fragments(secret)) {
            for (const [where, t] of texts)
              if (t.includes(frag)) hits.push(`${JSON.stringify(frag)} in ${where}`);
          }
          const b64 = (s: string): string => Buffer.from(s).toString("base64");
          for (const form of [b64(secret), b64(`alice:${secret}`), b64(`bob:${secret}`)])
            for (const [where, t] of texts) if (t.includes(form)) hits.push(`base64 in ${where}`);
        }
        assert.deepEqual(hits.slice(0, 10), [], `no fragment of a password anywhere (${hits.length} hits)`);
      } finally {
        await src.close();
        await dst.close();
      }
    });
  }
});
