/**
 * Passwords from the `keyring` command, as pip's and uv's `--keyring-provider subprocess` ask it
 * (pip: src/pip/_internal/network/auth.py, KeyRingCliProvider; uv: docs "Authentication",
 * crates/uv-auth/src/keyring.rs):
 * - with a username: `keyring get SERVICE USERNAME` prints the password;
 * - without one: `keyring --mode creds get SERVICE` prints the username, then the password
 *   (keyring 25.2 and later);
 * SERVICE is the registry's URL (without credentials), then its host name, as pip tries them.
 * Google's keyrings.google-artifactregistry-auth answers through this command for
 * https://LOCATION-python.pkg.dev/... URLs (Google's docs, "Configure authentication to
 * Artifact Registry for Python package repositories": pip and uv with the keyring backend).
 */
import { spawnSync } from "node:child_process";
import { PyregError } from "../core/errors.js";
import { registerSecret } from "../http/redact.js";

export type KeyringProvider = "disabled" | "subprocess";

export function parseKeyringProvider(v: string): KeyringProvider {
  if (v === "disabled" || v === "subprocess") return v;
  throw new PyregError("USAGE", `--keyring-provider takes "subprocess" or "disabled", not "${v}"`, {
    hint: "--keyring-provider subprocess runs the `keyring` command, as pip and uv do",
  });
}

function run(args: string[], env: NodeJS.ProcessEnv): string | undefined {
  const r = spawnSync("keyring", args, {
    env,
    encoding: "utf8",
    timeout: 120_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new PyregError(
      "CONFIG",
      code === "ENOENT"
        ? "--keyring-provider subprocess: the `keyring` command is not on PATH"
        : `--keyring-provider subprocess: \`keyring\` failed: ${r.error.message}`,
      { hint: "install it (pipx install keyring, plus your backend) or leave out --keyring-provider" },
    );
  }
  // keyring exits 1 when it has no such entry.
  if (r.status !== 0) return undefined;
  return r.stdout;
}

/** The credentials the keyring command has for this URL, or undefined. */
export function keyringCredentials(
  url: URL,
  username: string | undefined,
  env: NodeJS.ProcessEnv,
): { username: string; password: string } | undefined {
  const clean = new URL(url.toString());
  clean.username = "";
  clean.password = "";
  for (const service of [clean.toString(), clean.hostname]) {
    if (username) {
      const out = run(["get", service, username], env);
      const password = out?.replace(/\r?\n$/, "");
      if (password) {
        registerSecret(password);
        return { username, password };
      }
    } else {
      const out = run(["--mode", "creds", "get", service], env);
      const [user, password] = (out ?? "").replace(/\r?\n$/, "").split(/\r?\n/);
      if (user !== undefined && password) {
        registerSecret(password);
        return { username: user, password };
      }
    }
  }
  return undefined;
}
