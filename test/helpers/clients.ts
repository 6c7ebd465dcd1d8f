/**
 * The Python clients people point at `pyreg serve` (pip, twine, poetry, pdm, flit), run as child
 * processes. Each is sealed from the internet and from the machine's own settings: a temporary
 * HOME and XDG folders, no PIP_/TWINE_/POETRY_/PDM_/FLIT_ variables from outside, no keyring, and
 * only the loopback server as index or upload URL (given by each test).
 * A client that is missing is a failure that says what to install, never a skipped test:
 * scripts/test.sh installs Debian's packages when they are missing.
 */
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { commandPath } from "./tools.js";

export interface Run {
  code: number | null;
  out: string;
}

const FOREIGN = /^(PIP|TWINE|POETRY|PDM|FLIT)_/;

/** Runs a command WITHOUT blocking the event loop (the server under test runs in this process). */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const clean = { ...process.env };
    for (const k of Object.keys(clean)) if (FOREIGN.test(k)) delete clean[k];
    const child = spawn(cmd, args, {
      env: { ...clean, ...opts.env },
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    // A client that hangs is killed, and the test then fails on its exit code.
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out: `$ ${cmd} ${args.join(" ")}\n${out}` });
    });
  });
}

/** Debian package of each client the suite runs (scripts/test.sh installs the missing ones). */
export const DEBIAN_PACKAGE: Record<string, string> = {
  twine: "twine",
  poetry: "python3-poetry",
  pdm: "python3-pdm",
  flit: "flit",
};

/**
 * The path of a client on PATH (where scripts/test.sh checks for it); throws, so the test fails,
 * when it is missing.
 */
export function requireClient(name: string): string {
  const path = commandPath(name);
  if (!path) {
    const pkg = DEBIAN_PACKAGE[name] ?? "?";
    throw new Error(`${name} is not on PATH: run 'apt-get install ${pkg}' (scripts/test.sh does it as root)`);
  }
  return path;
}

/**
 * Environment for a client: HOME, XDG folders and caches in `home`, no keyring, no prompts, no
 * version checks. Settings that reach an index are added by each test, naming the loopback server.
 */
export async function sealedEnv(home: string): Promise<NodeJS.ProcessEnv> {
  for (const d of ["config", "cache", "data", "tmp"]) await mkdir(join(home, d), { recursive: true });
  return {
    HOME: home,
    // Clients leave logs in the temporary folder (pdm does on errors): inside the test's folder.
    TMPDIR: join(home, "tmp"),
    XDG_CONFIG_HOME: join(home, "config"),
    XDG_CACHE_HOME: join(home, "cache"),
    XDG_DATA_HOME: join(home, "data"),
    PYTHON_KEYRING_BACKEND: "keyring.backends.null.Keyring",
    PIP_CONFIG_FILE: "/dev/null",
    PIP_NO_CACHE_DIR: "1",
    PIP_DISABLE_PIP_VERSION_CHECK: "1",
    PIP_NO_INPUT: "1",
    TWINE_NON_INTERACTIVE: "1",
    // Plain, unwrapped output for the assertions on it.
    NO_COLOR: "1",
    COLUMNS: "400",
    // No proxy may send a request anywhere but to the loopback server.
    NO_PROXY: "*",
    no_proxy: "*",
    http_proxy: "",
    https_proxy: "",
    HTTP_PROXY: "",
    HTTPS_PROXY: "",
  };
}
