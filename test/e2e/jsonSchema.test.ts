/**
 * Every command's --json output follows the one schema in docs/json-schema.json (validated with
 * ajv): results, file-level problems, errors and usage errors; stdout holds nothing but JSON.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { makeWheel } from "../fixtures/dists.js";
import { REPO_ROOT, runCli } from "../helpers/cli.js";
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
    assert.equal(doc["version"], 1);
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
    assert.equal((v["problems"] as unknown[]).length, 1);
  });

  test("errors and usage errors are JSON documents too", async () => {
    const e = await check(["list", "./missing-folder"], 2, "list");
    assert.equal((e["error"] as { code: string }).code, "CONFIG");
    const u = await check(["plan", "--from", "./src", "--to", "./dst", "--no-such-option"], 2, "plan");
    assert.equal((u["error"] as { code: string }).code, "USAGE");
    const w = await check(["migrate", "--from", "./src", "--to", "nothing-here"], 2, "migrate");
    assert.match((w["error"] as { message: string }).message, /neither an existing folder/);
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
  });
});
