/**
 * Every command's --json output follows the one schema in docs/json-schema.json (validated with
 * ajv): results, file-level problems, errors and usage errors of every command (list, plan,
 * migrate, verify, report, check-lock, rewrite-lock, print-settings; serve has no --json, but its
 * usage errors under --json are documents too); stdout holds nothing but JSON.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { makeWheel } from "../fixtures/dists.js";
import { REPO_ROOT, runCli } from "../helpers/cli.js";
import { startServe } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

describe("--json follows docs/json-schema.json", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let validate: ValidateFunction;

  before(async () => {
    tmp = await tempDir();
    const src = join(tmp.path, "src");
    await mkdir(src);
    await makeWheel(src, { name: "schema-a", version: "1.0" });
    await makeWheel(src, { name: "schema-b", version: "2.0" });
    const schema = JSON.parse(await readFile(join(REPO_ROOT, "docs", "json-schema.json"), "utf8")) as object;
    validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
  });
  after(async () => {
    await tmp?.cleanup();
  });

  const check = async (args: string[], code: number, command: string): Promise<Record<string, unknown>> => {
    const run = await runCli([...args, "--json"], { cwd: tmp.path });
    assert.equal(run.code, code, `${args.join(" ")}: ${run.stderr}`);
    const doc = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.ok(validate(doc), `${args.join(" ")}: ${JSON.stringify(validate.errors, null, 2)}\n${run.stdout}`);
    assert.equal(doc["version"], 2);
    assert.equal(doc["command"], command);
    return doc;
  };

  test("list, plan, migrate --dry-run, migrate, verify (all there, then files missing)", async () => {
    await check(["list", "./src"], 0, "list");
    await check(["plan", "--from", "./src", "--to", "./dst"], 0, "plan");
    await check(["migrate", "--from", "./src", "--to", "./dst", "--dry-run"], 0, "plan");
    const m = await check(["migrate", "--from", "./src", "--to", "./dst", "--state", "st"], 0, "migrate");
    assert.equal((m["outcomes"] as unknown[]).length, 2);
    await check(["migrate", "--from", "./src", "--to", "./dst", "--state", "st"], 0, "migrate");
    await check(["verify", "--from", "./src", "--to", "./dst", "--state", "st"], 0, "verify");
    await rm(join(tmp.path, "dst", "schema_a-1.0-py3-none-any.whl"));
    const v = await check(["verify", "--from", "./src", "--to", "./dst", "--state", "st"], 1, "verify");
    assert.equal((v["notVerified"] as unknown[]).length, 1);
    // One vocabulary: no command says `problems` or `errors` for a list any more.
    for (const doc of [v, m]) for (const k of ["problems", "errors", "filtered"]) assert.ok(!(k in doc), k);
    const r = await check(["report", "--state", "st"], 1, "report");
    assert.equal(r["complete"], false);
    assert.equal((r["report"] as { result: { complete: boolean } }).result.complete, false);
  });

  test("check-lock, rewrite-lock and print-settings", async () => {
    const wheel = "schema_b-2.0-py3-none-any.whl";
    const sha = createHash("sha256")
      .update(await readFile(join(tmp.path, "src", wheel)))
      .digest("hex");
    const old = "http://old.example/simple/";
    await writeFile(
      join(tmp.path, "requirements.txt"),
      `--index-url ${old}\nschema-b==2.0 --hash=sha256:${sha}\n`,
    );
    await writeFile(
      join(tmp.path, "bad.txt"),
      `--index-url ${old}\nschema-b==2.0 --hash=sha256:${"f".repeat(64)}\n`,
    );
    const c = await check(["check-lock", "requirements.txt", "--index", "./src"], 0, "check-lock");
    assert.deepEqual(c["index"], { kind: "folder", description: `folder ${join(tmp.path, "src")}` });
    await check(["check-lock", "bad.txt", "--index", "./src"], 1, "check-lock");
    const serve = await startServe(join(tmp.path, "src"));
    try {
      const w = await check(
        ["rewrite-lock", "requirements.txt", "--from", old, "--to", serve.indexUrl],
        0,
        "rewrite-lock",
      );
      assert.equal(w["written"], false);
      const n = await check(
        ["rewrite-lock", "bad.txt", "--from", old, "--to", serve.indexUrl],
        1,
        "rewrite-lock",
      );
      assert.equal((n["notVerified"] as unknown[]).length, 1);
    } finally {
      await serve.close();
    }
    const s = await check(["print-settings", "https://pkgs.example.com/simple/"], 0, "print-settings");
    assert.equal(s["indexUrl"], "https://pkgs.example.com/simple/");
  });

  test("errors and usage errors are JSON documents too", async () => {
    const e = await check(["list", "./missing-folder"], 2, "list");
    assert.equal((e["error"] as { code: string }).code, "CONFIG");
    const u = await check(["plan", "--from", "./src", "--to", "./dst", "--no-such-option"], 2, "plan");
    assert.equal((u["error"] as { code: string }).code, "USAGE");
    const w = await check(["migrate", "--from", "./src", "--to", "nothing-here"], 2, "migrate");
    assert.match((w["error"] as { message: string }).message, /neither an existing folder/);
    // Every command's errors and usage errors, serve's included.
    for (const [args, code] of [
      [["verify", "--from", "./src"], "USAGE"],
      [["report", "--state", "./no-state"], "STATE"],
      [["report", "--format", "yaml"], "USAGE"],
      [["check-lock", "missing.txt", "--index", "./src"], "USAGE"],
      [["rewrite-lock", "missing.txt", "--from", "http://a/simple/", "--to", "http://b/simple/"], "USAGE"],
      [["print-settings", "https://x.example/simple/", "--tool", "nope"], "USAGE"],
      [["serve", "./src", "--port", "nope"], "USAGE"],
      [["serve", "./src", "--no-such-option"], "USAGE"],
      [["nonsense"], "USAGE"],
    ] as const) {
      const doc = await check([...args], 2, args[0]);
      assert.equal((doc["error"] as { code: string }).code, code, args.join(" "));
    }
  });

  test("the schema rejects the old shapes (no version, source as a string)", () => {
    const old = {
      command: "verify",
      source: "folder /x",
      destination: "folder /y",
      ok: true,
      counts: { files: 0, ok: 0, missing: 0, different: 0, unverifiable: 0 },
      problems: [],
      errors: [],
    };
    assert.equal(validate(old), false);
    assert.equal(validate({ ...old, version: 1 }), false);
    assert.equal(validate({ ...old, version: 2 }), false);
  });
});
