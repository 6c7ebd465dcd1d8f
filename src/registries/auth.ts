/**
 * Basic credentials for a registry, in this order: user:password in the URL, the environment
 * (PYREG_FROM_USERNAME/PASSWORD for the source, PYREG_TO_* for the destination), the .pypirc
 * section named by --from/--to, ~/.netrc, then (with --keyring-provider subprocess) the `keyring`
 * command, asked with the username known so far (URL, PYREG_*_USERNAME, .pypirc).
 * Adapters never read tokens from anywhere else themselves; they receive what this resolves.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { staticProvider, type CredentialProvider } from "../http/credentials.js";
import { percentDecode } from "../http/redact.js";
import type { Side } from "./types.js";
import { PyregError } from "../core/errors.js";
import { netrcAuthenticators, NetrcParseError, parseNetrc } from "./netrc.js";
import { keyringCredentials, type KeyringProvider } from "./keyring.js";

/** Credential sources the command line adds: a .pypirc section, the keyring provider. */
export interface CredentialHints {
  pypirc?: { username?: string | undefined; password?: string | undefined; source: string } | undefined;
  keyringProvider?: KeyringProvider | undefined;
}

export interface BasicCredentials {
  username: string;
  password: string;
  /** Where they came from: "URL", "PYREG_TO_PASSWORD", "~/.netrc"... */
  source: string;
}

function envPrefix(side: Side): string {
  return side === "source" ? "PYREG_FROM" : "PYREG_TO";
}

export function resolveBasicCredentials(
  url: URL,
  side: Side,
  env: NodeJS.ProcessEnv,
  hints: CredentialHints = {},
): BasicCredentials | undefined {
  if (url.password) {
    return {
      username: percentDecode(url.username),
      password: percentDecode(url.password),
      source: "the URL",
    };
  }
  const p = envPrefix(side);
  const user = env[`${p}_USERNAME`] || undefined;
  const pass = env[`${p}_PASSWORD`];
  if (pass !== undefined && pass !== "") {
    return {
      username: user ?? (url.username ? decodeURIComponent(url.username) : "__token__"),
      password: pass,
      source: `${p}_PASSWORD`,
    };
  }
  const rc = hints.pypirc;
  if (rc?.password) {
    return {
      username: url.username ? decodeURIComponent(url.username) : (user ?? rc.username ?? "__token__"),
      password: rc.password,
      source: rc.source,
    };
  }
  const fromNetrc = netrcLookup(url.hostname, env);
  if (fromNetrc) return { ...fromNetrc, source: "~/.netrc" };
  const known = url.username ? decodeURIComponent(url.username) : (user ?? rc?.username);
  // The keyring command gets the environment without pyreg's own secrets, as gcloud does.
  if (hints.keyringProvider === "subprocess") {
    const fromKeyring = keyringCredentials(url, known, childEnv(env));
    if (fromKeyring) return { ...fromKeyring, source: "keyring" };
  }
  // A user name alone (https://user@host/): sent with an empty password, as before.
  if (url.username) return { username: decodeURIComponent(url.username), password: "", source: "the URL" };
  return undefined;
}

export function basicProvider(creds: BasicCredentials): CredentialProvider {
  return staticProvider(creds.source, { type: "basic", username: creds.username, password: creds.password });
}

/**
 * Variables that hold secrets pyreg reads for itself. A program pyreg starts (gcloud for a Google
 * token) inherits the rest of the environment, never these: it has no use for them, and a child's
 * environment can be read by other processes of the same user (/proc/PID/environ).
 */
const OWN_SECRETS = ["PYREG_FROM_PASSWORD", "PYREG_TO_PASSWORD", "GITLAB_TOKEN", "CI_JOB_TOKEN"];

/** The environment for a program pyreg starts: its own, less pyreg's secret variables. */
export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of OWN_SECRETS) delete out[name];
  return out;
}

/** The URL with user and password removed (they travel as headers, never in the URL). */
export function stripCredentials(url: URL): URL {
  const u = new URL(url.toString());
  u.username = "";
  u.password = "";
  return u;
}

/**
 * The credentials ~/.netrc (or $NETRC) gives a host, read as Python's netrc module reads it (see
 * ./netrc.ts). A file that does not parse is an error naming it, not a silent "no credentials".
 */
export function netrcLookup(
  host: string,
  env: NodeJS.ProcessEnv,
): { username: string; password: string } | undefined {
  const file = env["NETRC"] ?? join(env["HOME"] ?? homedir(), ".netrc");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  let hit;
  try {
    hit = netrcAuthenticators(parseNetrc(text), host);
  } catch (err) {
    if (!(err instanceof NetrcParseError)) throw err;
    throw new PyregError("CONFIG", `cannot read ${file}: ${err.message}`, {
      hint: "fix the file (see man 5 netrc), or point NETRC to another file",
    });
  }
  if (!hit || (!hit.login && !hit.password)) return undefined;
  return { username: hit.login, password: hit.password };
}
