/** Real pip, as the judge of what pyreg wrote. Never reaches the internet: --index-url only. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { python3 } from "./tools.js";

const run = promisify(execFile);

/** The machine's own pip settings (PIP_FIND_LINKS, PIP_INDEX_URL...) are dropped: only our index counts. */
function withoutPipSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const clean = { ...env };
  for (const k of Object.keys(clean)) if (k.startsWith("PIP_")) delete clean[k];
  return clean;
}

export const PIP_ENV = {
  ...withoutPipSettings(process.env),
  PIP_NO_CACHE_DIR: "1",
  PIP_DISABLE_PIP_VERSION_CHECK: "1",
  PIP_NO_INPUT: "1",
  PIP_CONFIG_FILE: "/dev/null",
};

/**
 * pip options that pick the CPython 3.11 wheel for `platform`, whatever machine runs the test:
 * pip otherwise picks one wheel for its own machine only.
 */
export function wheelFor(platform: string): string[] {
  return [
    "--only-binary=:all:",
    "--platform",
    platform,
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
  ];
}

export async function pip(args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(python3(), ["-m", "pip", ...args], { env: PIP_ENV, timeout: 120_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`pip ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

export async function python(code: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(python3(), ["-c", code], { env: { ...process.env, ...env }, timeout: 60_000 });
  return stdout;
}
