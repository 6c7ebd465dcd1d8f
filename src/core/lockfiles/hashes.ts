import { PyregError } from "../errors.js";

/**
 * "sha256:HEX" (the form pip's --hash, uv.lock, poetry.lock and pdm.lock write) → ["sha256", hex].
 * https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode
 */
export function splitHash(value: string, where: string, path: string): [string, string] {
  const m = /^([a-z0-9_-]+)[:=]([0-9a-f]+)$/i.exec(value.trim());
  if (!m) {
    throw new PyregError("CONFIG", `${path}: ${where}: "${value}" is not a hash of the form ALGORITHM:HEX`, {
      hint: "lock files write hashes as sha256:<64 hex digits>",
    });
  }
  return [(m[1] as string).toLowerCase(), (m[2] as string).toLowerCase()];
}

/** The last path segment of a URL, percent-decoded: the filename of a file on an index. */
export function filenameOfUrl(url: string): string | undefined {
  try {
    const u = new URL(url, "file:///");
    const last = u.pathname.split("/").filter(Boolean).pop();
    return last ? decodeURIComponent(last) : undefined;
  } catch {
    return undefined;
  }
}
