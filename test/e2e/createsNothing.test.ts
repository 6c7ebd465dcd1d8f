/**
 * plan (and migrate --dry-run) and verify create nothing: no destination folder, no state folder,
 * journal, lock or report, in the working folder, HOME, XDG folders or TMPDIR; verify writes a
 * report only where --report asks for one, and records its run only in a journal that is already
 * there.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

/** Every path under root with its kind, and for files their size and modification time. */
async function snapshot(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const s = await stat(path);
      const rel = relative(root, path);
      if (s.isDirectory()) {
        out.push(`${rel}/`);
        await walk(path);
      } else out.push(`${rel} ${s.size} ${s.mtimeMs}`);
    }
  };
  await walk(root);
  return out;
}

describe("plan and verify create nothing", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let served: { path: string; cleanup(): Promise<void> };
  let serve: ServeHandle;
  let work: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    tmp = await tempDir();
    served = await tempDir();
    work = join(tmp.path, "work");
    for (const d of ["home", "run", "state", "cache", "config", "tmp", "work/src", "work/same", "work/out"])
      await mkdir(join(tmp.path, d), { recursive: true });
    for (const dir of ["src", "same"]) {
      await makeWheel(join(work, dir), { name: "alpha", version: "1.0" });
      await makeWheel(join(work, dir), { name: "bravo", version: "2.0" });
    }
    await makeWheel(served.path, { name: "alpha", version: "1.0" });
    serve = await startServe(served.path);
    env = {
      HOME: join(tmp.path, "home"),
      XDG_RUNTIME_DIR: join(tmp.path, "run"),
      XDG_STATE_HOME: join(tmp.path, "state"),
      XDG_CACHE_HOME: join(tmp.path, "cache"),
      XDG_CONFIG_HOME: join(tmp.path, "config"),
      TMPDIR: join(tmp.path, "tmp"),
      PYREG_LOCK_DIR: "",
      NETRC: join(tmp.path, "home", "no-netrc"),
    };
  });
  after(async () => {
    await serve?.close();
    await tmp?.cleanup();
    await served?.cleanup();
  });

  const cases: [string, string[], number][] = [
    ["plan to a folder that does not exist", ["plan", "--from", "./src", "--to", "./new"], 0],
    [
      "plan with --state and --report (as a migrate command with its verb changed)",
      ["plan", "--from", "./src", "--to", "./new", "--state", "./st", "--report", "./out/plan", "--json"],
      0,
    ],
    [
      "migrate --dry-run with --state, --report and --reset-state",
      [
        "migrate",
        "--dry-run",
        "--from",
        "./src",
        "--to",
        "./new",
        "--state",
        "./st",
        "--report",
        "./out/r",
        "--reset-state",
      ],
      0,
    ],
    ["verify, all there", ["verify", "--from", "./src", "--to", "./same"], 0],
    ["verify to a folder that does not exist", ["verify", "--from", "./src", "--to", "./new", "--json"], 1],
    [
      "verify with a new --state folder",
      ["verify", "--from", "./src", "--to", "./same", "--state", "./st"],
      0,
    ],
    ["verify to a registry over HTTP", ["verify", "--from", "./src", "--to", "SERVE", "--json"], 1],
    ["verify --shard", ["verify", "--from", "./src", "--to", "./same", "--shard", "1/2"], 0],
  ];
  for (const [name, args, code] of cases) {
    test(name, async () => {
      const before = await snapshot(tmp.path);
      const argv = args.map((a) => (a === "SERVE" ? serve.url : a));
      const r = await runCli(argv, { cwd: work, env });
      assert.equal(r.code, code, r.stdout + r.stderr);
      if (argv.includes("--json")) JSON.parse(r.stdout);
      assert.deepEqual(await snapshot(tmp.path), before, `${argv.join(" ")} created or changed files`);
      if (argv.includes("--report"))
        assert.match(r.stderr, /--report .*not written|writes no report/, "the ignored option is said");
    });
  }

  test("verify --report PATH writes exactly PATH.json and PATH.md", async () => {
    const before = await snapshot(tmp.path);
    const r = await runCli(["verify", "--from", "./src", "--to", "./new", "--report", "./out/check"], {
      cwd: work,
      env,
    });
    assert.equal(r.code, 1, r.stderr);
    const added = (await snapshot(tmp.path)).filter((l) => !before.includes(l)).map((l) => l.split(" ")[0]);
    assert.deepEqual(added.sort(), ["work/out/check.json", "work/out/check.md"]);
    assert.match(r.stderr, /report: .*check\.md/);
  });
});
