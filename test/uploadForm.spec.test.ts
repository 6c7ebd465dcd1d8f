/**
 * The upload form for Metadata-Version 2.3 to 2.6, judged by the core metadata specification's
 * field list (test/fixtures/coreMetadataSpec.ts) and the server's naming rule, not by pyreg's own
 * form builder. No twine on this machine reads these versions (Debian's twine 4.0.2 stops at 2.2:
 * test/uploadForm.twine.test.ts compares 1.0 to 2.2 with it), so:
 *
 * - the wheel's METADATA holds EVERY field the specification defines, each multiple-use field
 *   twice (values derived from the field name), plus the fields newer than the declared version;
 * - the real CLI migrates it into a registry that records the form (test/fakes/gar.ts);
 * - the expected form is derived from the field list alone: every field the declared version has,
 *   under the name Warehouse reads, with exactly the file's values in the file's order; no field
 *   the declared version does not have (packaging's `Metadata` refuses a field "introduced in
 *   metadata version" above the declared one, and Warehouse validates the form with it); and
 *   nothing else but the upload protocol's own fields.
 *
 * The names Warehouse reads (pypi/warehouse `warehouse/forklift/metadata.py`, `_FORM_TO_RAW_MAPPING
 * = {_override.get(k, k): k for k in _RAW_TO_EMAIL_MAPPING}`) are packaging's raw names
 * (pypa/packaging `src/packaging/metadata.py` `_RAW_TO_EMAIL_MAPPING`: the field name lowercased
 * with "-" → "_", plural for the seven list fields below) with Warehouse's `_override` applied.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { FakeGar } from "./fakes/gar.js";
import { makeWheel, type MetadataVersion } from "./fixtures/dists.js";
import { parseHeading, SPEC_FIELDS, SPEC_METADATA_VERSIONS } from "./fixtures/coreMetadataSpec.js";
import { runCli } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";
import { python3 } from "./helpers/tools.js";

const run = promisify(execFile);

/** packaging's raw names that are not the email name lowercased with "_" (`_RAW_TO_EMAIL_MAPPING`). */
const PACKAGING_PLURAL: Record<string, string> = {
  classifier: "classifiers",
  platform: "platforms",
  "supported-platform": "supported_platforms",
  "project-url": "project_urls",
  "license-file": "license_files",
  "import-name": "import_names",
  "import-namespace": "import_namespaces",
};
/** Warehouse's `_override` in warehouse/forklift/metadata.py (raw name → form name). */
const WAREHOUSE_OVERRIDE: Record<string, string> = {
  platforms: "platform",
  supported_platforms: "supported_platform",
  license_files: "license_file",
  import_names: "import_name",
  import_namespaces: "import_namespace",
};
function rawName(field: string): string {
  const lower = field.toLowerCase();
  return PACKAGING_PLURAL[lower] ?? lower.replace(/-/g, "_");
}
function formName(field: string): string {
  const raw = rawName(field);
  return WAREHOUSE_OVERRIDE[raw] ?? raw;
}
/**
 * The upload protocol's own fields, besides the metadata (pypi/warehouse
 * `warehouse/forklift/legacy.py` `file_upload` reads `:action`, `protocol_version`, `filetype`,
 * `pyversion`, `comment`, `md5_digest`, `sha256_digest`, `blake2_256_digest`).
 */
const PROTOCOL = new Set([
  ":action",
  "protocol_version",
  "filetype",
  "pyversion",
  "comment",
  "md5_digest",
  "sha256_digest",
  "blake2_256_digest",
]);

function newer(added: string, declared: string): boolean {
  const [a1, a2] = added.split(".").map(Number) as [number, number];
  const [d1, d2] = declared.split(".").map(Number) as [number, number];
  return a1 > d1 || (a1 === d1 && a2 > d2);
}

/** Values written for a field: derived from its name, one per use (two for multiple-use fields). */
function valuesFor(name: string, multiple: boolean): string[] {
  const slug = name.toLowerCase();
  return multiple ? [`${slug}-value-one`, `${slug}-value-two`] : [`${slug}-value`];
}

const SPECIAL = new Set(["Metadata-Version", "Name", "Version", "Description"]);
const VERSIONS = SPEC_METADATA_VERSIONS.filter((v) => !newer("2.3", v));

let tmp: { path: string; cleanup(): Promise<void> };
let fake: FakeGar;
before(async () => {
  tmp = await tempDir("pyreg-form-spec-");
  fake = await new FakeGar().start();
});
after(async () => {
  await fake.close();
  await tmp.cleanup();
});

test("the field list covers what the specification says: 2.3 to 2.6, every field once", () => {
  assert.deepEqual(VERSIONS, ["2.3", "2.4", "2.5", "2.6"]);
  const names = SPEC_FIELDS.map((f) => parseHeading(f.heading).name);
  assert.equal(new Set(names.map((n) => n.toLowerCase())).size, names.length);
  // Every form name is distinct, so a field cannot hide behind another.
  assert.equal(new Set(names.map(formName)).size, names.length);
});

for (const mv of VERSIONS) {
  test(`Metadata-Version ${mv}: the form sends every field of the specification, under Warehouse's names`, async () => {
    const dir = join(tmp.path, `v${mv}`);
    await mkdir(dir, { recursive: true });
    const written: { name: string; multiple: boolean; added: string; values: string[] }[] = [];
    for (const f of SPEC_FIELDS) {
      const { name, multiple } = parseHeading(f.heading);
      if (SPECIAL.has(name)) continue;
      written.push({ name, multiple, added: f.added, values: valuesFor(name, multiple) });
    }
    const project = `spec-form-${mv.replace(".", "-")}`;
    const description = `The description of ${project}, in the message body.\n`;
    const path = await makeWheel(dir, {
      name: project,
      version: "1.0",
      metadataVersion: mv as MetadataVersion,
      description,
      extraHeaders: written.flatMap((w) => w.values.map((v): [string, string] => [w.name, v])),
    });
    const filename = path.slice(dir.length + 1);

    const repo = `form-${mv.replace(".", "-")}`;
    fake.addRepository("proj", repo);
    const cwd = join(tmp.path, `run-${mv}`);
    await mkdir(cwd, { recursive: true });
    const r = await runCli(["migrate", "--from", dir, "--to", `gar+${fake.repoUrl("proj", repo)}`], {
      cwd,
      env: {
        HOME: tmp.path,
        NETRC: join(tmp.path, "none"),
        PYREG_TO_USERNAME: "oauth2accesstoken",
        PYREG_TO_PASSWORD: fake.issueToken(),
      },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const stored = fake.files("proj", repo).get(filename);
    assert.ok(stored, `${filename} was uploaded`);
    const form = stored.fields;
    const valuesOf = (key: string): string[] => form.filter(([k]) => k === key).map(([, v]) => v);

    // The identity fields and the description (in the body since 2.1).
    assert.deepEqual(valuesOf(formName("Metadata-Version")), [mv]);
    assert.deepEqual(valuesOf(formName("Name")), [project]);
    assert.deepEqual(valuesOf(formName("Version")), ["1.0"]);
    assert.deepEqual(valuesOf(formName("Description")), [description]);
    let sent = 0;
    for (const w of written) {
      const key = formName(w.name);
      if (newer(w.added, mv)) {
        assert.deepEqual(valuesOf(key), [], `${w.name} (added in ${w.added}) is not sent for ${mv}`);
      } else {
        assert.deepEqual(valuesOf(key), w.values, `${w.name} → ${key}: the file's values, in order`);
        sent++;
      }
    }
    assert.ok(sent >= 20, `${sent} metadata fields sent`);
    // Nothing else than the specification's fields and the protocol's own.
    const known = new Set(SPEC_FIELDS.map((f) => formName(parseHeading(f.heading).name)));
    const other = [...new Set(form.map(([k]) => k))].filter((k) => !known.has(k) && !PROTOCOL.has(k));
    assert.deepEqual(other, [], "no field outside the specification and the upload protocol");

    // The protocol fields: the digests of the bytes, computed here (BLAKE2b-256 by Python's hashlib).
    const bytes = await readFile(path);
    const { stdout: blake } = await run(python3(), [
      "-c",
      "import hashlib,sys; print(hashlib.blake2b(open(sys.argv[1],'rb').read(), digest_size=32).hexdigest())",
      path,
    ]);
    assert.deepEqual(valuesOf("sha256_digest"), [createHash("sha256").update(bytes).digest("hex")]);
    assert.deepEqual(valuesOf("md5_digest"), [createHash("md5").update(bytes).digest("hex")]);
    assert.deepEqual(valuesOf("blake2_256_digest"), [blake.trim()]);
    assert.deepEqual(valuesOf(":action"), ["file_upload"]);
    assert.deepEqual(valuesOf("protocol_version"), ["1"]);
    assert.deepEqual(valuesOf("filetype"), ["bdist_wheel"]);
    assert.deepEqual(valuesOf("pyversion"), ["py3"]);
  });
}

test("the naming rule above is packaging's own, where python3's packaging knows every field", async (t) => {
  // A cross-check of this file's two tables against the installed library (pypa/packaging, which
  // Warehouse imports). Debian's python3-packaging 23.0 predates Metadata 2.4, so this runs only
  // with a packaging that has `import_names` (25.1 and newer) and says so when it cannot.
  let mapping: Record<string, string>;
  try {
    const { stdout } = await run(python3(), [
      "-c",
      "import json, packaging.metadata as m; print(json.dumps(m._RAW_TO_EMAIL_MAPPING))",
    ]);
    mapping = JSON.parse(stdout) as Record<string, string>;
  } catch {
    t.skip("python3 has no packaging.metadata");
    return;
  }
  if (!("import_names" in mapping)) {
    t.skip("python3's packaging predates Metadata 2.5 (no import_names)");
    return;
  }
  const fromSpec = SPEC_FIELDS.map((f) => parseHeading(f.heading).name);
  // packaging's email names are the specification's field names, lowercased.
  assert.deepEqual(Object.values(mapping).sort(), fromSpec.map((n) => n.toLowerCase()).sort());
  for (const [raw, email] of Object.entries(mapping)) {
    const field = fromSpec.find((n) => n.toLowerCase() === email) as string;
    assert.equal(rawName(field), raw, `${field}: packaging's raw name`);
  }
});
