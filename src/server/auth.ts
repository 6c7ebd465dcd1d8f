/** HTTP Basic authentication for the local registry (RFC 7617), compared in constant time. */
import { createHash, timingSafeEqual } from "node:crypto";

export interface BasicCredentials {
  username: string;
  password: string;
}

export const REALM = "pyreg";

/** The credentials of an `Authorization: Basic ...` header, or undefined. */
export function parseBasicAuth(header: string | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const m = /^Basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1] as string, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

// Hashing first gives equal-length inputs, so neither the length nor the content leaks by timing.
function digest(s: string): Buffer {
  return createHash("sha256").update(s, "utf8").digest();
}

export function credentialsMatch(given: BasicCredentials | undefined, expected: BasicCredentials): boolean {
  const user = timingSafeEqual(digest(given?.username ?? ""), digest(expected.username));
  const pass = timingSafeEqual(digest(given?.password ?? "\0no password"), digest(expected.password));
  return given !== undefined && user && pass;
}
