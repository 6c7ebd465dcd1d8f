/**
 * Credentials belong to one origin (scheme + host + port) and one path prefix on it, and are
 * attached only to requests below that prefix, so a redirect or a file URL on another host, or
 * another path of the same host, never receives them.
 */
import { registerSecret } from "./redact.js";

export type AuthValue =
  { type: "basic"; username: string; password: string } | { type: "header"; name: string; value: string };

export interface CredentialProvider {
  /** Where these credentials came from, for error messages ("PYREG_TO_PASSWORD", "~/.netrc"...). */
  readonly source: string;
  get(): Promise<AuthValue | undefined>;
  /** Called after a 401: fetch a fresh token if the provider can. Returns true if it changed. */
  refresh?(): Promise<boolean>;
}

export function staticProvider(source: string, auth: AuthValue): CredentialProvider {
  if (auth.type === "basic") {
    registerSecret(auth.password);
    // An echoed Authorization header carries base64("user:password"), which does not contain the
    // base64 of the password alone: remember the pair too (redactText scrubs its base64).
    registerSecret(`${auth.username}:${auth.password}`);
  } else registerSecret(auth.value);
  return { source, get: () => Promise.resolve(auth) };
}

export function originOf(url: string | URL): string {
  const u = new URL(String(url));
  return `${u.protocol}//${u.host}`;
}

export class CredentialStore {
  private readonly byOrigin = new Map<string, { prefix: string; provider: CredentialProvider }[]>();

  /**
   * Registers credentials for every URL that starts with `prefix` on its origin. When two prefixes
   * on one origin both match (source and destination on the same host), the longest wins.
   */
  add(prefix: string, provider: CredentialProvider): void {
    const origin = originOf(prefix);
    const list = this.byOrigin.get(origin) ?? [];
    list.push({ prefix: new URL(prefix).pathname, provider });
    list.sort((a, b) => b.prefix.length - a.prefix.length);
    this.byOrigin.set(origin, list);
  }

  /**
   * The provider for this URL: the longest registered path prefix on the same origin, or none.
   * This is pip's rule for index credentials (per origin, longest index URL prefix first); a path
   * no registry was given for gets nothing, even on the same host (`/team-b/` never receives the
   * credentials given for `/team-a/simple/`).
   */
  providerFor(url: string | URL): CredentialProvider | undefined {
    // Nothing registered (anonymous registries): no URL to parse for each request.
    if (this.byOrigin.size === 0) return undefined;
    const u = typeof url === "string" ? new URL(url) : url;
    const list = this.byOrigin.get(`${u.protocol}//${u.host}`);
    return list?.find((e) => u.pathname.startsWith(e.prefix))?.provider;
  }
}

export function authHeader(auth: AuthValue): [string, string] {
  if (auth.type === "basic") {
    return ["authorization", "Basic " + Buffer.from(`${auth.username}:${auth.password}`).toString("base64")];
  }
  return [auth.name.toLowerCase(), auth.value];
}
