/**
 * The main job on a local default: sample packages in one local registry, migrated to another
 * (which needs a password for uploads), verified, then installed from it with real pip.
 * Everything runs on 127.0.0.1 with the real CLI, and is cleaned up at the end.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCorpus } from "../test/fixtures/dists.js";
import { PYREG_BIN } from "../test/helpers/cli.js";
import { wheelFor } from "../test/helpers/pip.js";

const children: ChildProcess[] = [];

function say(text: string): void {
  const bold = process.stdout.isTTY && !process.env["NO_COLOR"];
  process.stdout.write(bold ? `\n\u001b[1m== ${text}\u001b[0m\n` : `\n== ${text}\n`);
}

/** Runs a command with its output shown; resolves with its exit code. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  // pip must see only the new registry: drop the machine's own pip settings (PIP_FIND_LINKS...).
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith("PIP_")) delete base[k];
  process.stdout.write(
    `$ ${[cmd === process.execPath ? "pyreg" : cmd, ...(cmd === process.execPath ? args.slice(1) : args)].join(" ")}\n`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "inherit", "inherit"], env: { ...base, ...env } });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}

const pyreg = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> =>
  run(process.execPath, [PYREG_BIN, ...args], env);

/** Starts `pyreg serve` on a free port and waits for the URL it prints. */
function serve(dir: string, extra: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PYREG_BIN, "serve", dir, "--port", "0", "--quiet", ...extra], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let seen = "";
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const m = /upload \(twine\): (http:\/\/\S+)/.exec(seen);
      if (m) resolve(m[1] as string);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`pyreg serve exited (${code}): ${seen}`)));
  });
}

async function main(): Promise<number> {
  const work = await mkdtemp(join(tmpdir(), "pyreg-demo-"));
  try {
    say("1. Sample packages: several projects and versions, platform wheels and sdists");
    const files = await makeCorpus(join(work, "old-registry"));
    for (const f of files) process.stdout.write(`   ${f.filename}\n`);

    say("2. Two local registries: the old one (open) and the new one (uploads need a password)");
    const oldUrl = await serve(join(work, "old-registry"), []);
    const newUrl = await serve(join(work, "new-registry"), ["--auth", "demo:demo-password"]);
    process.stdout.write(`   old: ${oldUrl}simple/\n   new: ${newUrl}  (index ${newUrl}simple/)\n`);
    const creds = { PYREG_TO_USERNAME: "demo", PYREG_TO_PASSWORD: "demo-password" };

    say("3. Plan: what would move");
    await pyreg(["plan", "--from", `${oldUrl}simple/`, "--to", newUrl, "--quiet"], creds);

    say("4. Migrate: every file of every version, sha256-checked end to end");
    let code = await pyreg(
      ["migrate", "--from", `${oldUrl}simple/`, "--to", newUrl, "--state", join(work, "state")],
      creds,
    );
    if (code !== 0) return code;

    say("5. Verify: every source file is at the destination with the same sha256");
    code = await pyreg(
      ["verify", "--from", `${oldUrl}simple/`, "--to", newUrl, "--state", join(work, "state")],
      creds,
    );
    if (code !== 0) return code;

    say("6. Run migrate again: nothing is uploaded twice");
    code = await pyreg(
      ["migrate", "--from", `${oldUrl}simple/`, "--to", newUrl, "--quiet", "--state", join(work, "state")],
      creds,
    );
    if (code !== 0) return code;

    say("7. pip installs from the new registry");
    const pipEnv = {
      PIP_NO_CACHE_DIR: "1",
      PIP_DISABLE_PIP_VERSION_CHECK: "1",
      PIP_CONFIG_FILE: "/dev/null",
    };
    const target = join(work, "site");
    code = await run(
      "python3",
      [
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--index-url",
        `${newUrl}simple/`,
        "--target",
        target,
        "my-pkg==1.0",
      ],
      pipEnv,
    );
    if (code !== 0) return code;
    code = await run("python3", ["-c", "import my_pkg; print('import my_pkg ->', my_pkg.VERSION)"], {
      PYTHONPATH: target,
    });
    if (code !== 0) return code;
    code = await run(
      "python3",
      [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--index-url",
        `${newUrl}simple/`,
        "-d",
        join(work, "dl"),
        ...wheelFor("win_amd64"),
        "zope-interface-like==1.0.post1",
      ],
      pipEnv,
    );
    if (code !== 0) return code;

    say(`Done: ${files.length} files migrated and verified; pip installs from the new registry.`);
    return 0;
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await rm(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    if (code !== 0) process.stderr.write(`\ndemo failed (exit ${code})\n`);
    process.exitCode = code;
  },
  (err: unknown) => {
    for (const c of children) c.kill("SIGTERM");
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
