import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PyregError } from "../core/errors.js";
import { redactUrl } from "../http/redact.js";
import type { RegistrySpec } from "./types.js";

/**
 * Parses SRC/DST: `KIND+https://...` forces a kind; `http(s)://...` is a URL whose kind is
 * recognized by host or shape; `file://...` or anything else is a local folder.
 */
export function parseSpec(raw: string): RegistrySpec {
  const m = /^([a-z][a-z0-9-]*)\+(https?|file):\/\//i.exec(raw);
  const forcedKind = m ? (m[1] as string).toLowerCase() : undefined;
  const rest = m ? raw.slice((m[1] as string).length + 1) : raw;
  if (/^https?:\/\//i.test(rest)) {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw new PyregError("USAGE", `not a valid URL: ${redactUrl(rest)}`, {
        hint: "write registries as https://host/path/ or a folder path",
      });
    }
    return { raw, forcedKind, url, display: (forcedKind ? forcedKind + "+" : "") + redactUrl(url) };
  }
  if (/^file:\/\//i.test(rest)) {
    const path = fileURLToPath(rest);
    return { raw, forcedKind: forcedKind ?? "folder", path, display: path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rest)) {
    throw new PyregError("USAGE", `unsupported registry URL scheme in ${redactUrl(rest)}`, {
      hint: "use http(s)://, a KIND+https:// spec (gitlab+, gar+, codeartifact+) or a folder path",
    });
  }
  return { raw, forcedKind: forcedKind ?? "folder", path: resolve(rest), display: resolve(rest) };
}

export function folderExists(spec: RegistrySpec): boolean {
  return spec.path !== undefined && existsSync(spec.path);
}
