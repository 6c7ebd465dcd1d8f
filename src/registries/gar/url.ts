/**
 * Google Artifact Registry Python repository URLs.
 *
 * The console and `gcloud artifacts print-settings python` give a repository as
 * `https://LOCATION-python.pkg.dev/PROJECT/REPOSITORY/`; twine uploads to that URL and pip reads
 * `.../REPOSITORY/simple/` (cloud.google.com/artifact-registry/docs/python/authentication,
 * Google Cloud's Artifact Registry Python authentication docs).
 */
import { PyregError } from "../../core/errors.js";
import { redactUrl } from "../../http/redact.js";
import { stripCredentials } from "../auth.js";

export const GAR_HOST = /^([a-z0-9-]+)-python\.pkg\.dev$/i;

export interface GarRepository {
  /** Upload URL (the repository URL, with a trailing slash). */
  repoUrl: string;
  /** The simple index: repository + `simple/`. */
  indexUrl: string;
  project: string;
  repository: string;
  /** From the host name; undefined for a forced `gar+http://127.0.0.1:port/...` URL. */
  location: string | undefined;
}

export function isGarHost(url: URL): boolean {
  return GAR_HOST.test(url.hostname);
}

/** Parses a GAR repository URL; a trailing `simple/` (the index URL) is accepted too. */
export function parseGarUrl(url: URL): GarRepository {
  const clean = stripCredentials(url);
  clean.search = "";
  clean.hash = "";
  const parts = clean.pathname.split("/").filter(Boolean);
  if (parts[parts.length - 1] === "simple") parts.pop();
  const [project, repository, ...rest] = parts;
  if (!project || !repository || rest.length > 0) {
    throw new PyregError("USAGE", `${redactUrl(url)} is not an Artifact Registry repository URL`, {
      hint: "write it as https://LOCATION-python.pkg.dev/PROJECT/REPOSITORY/ (gcloud artifacts print-settings python shows it)",
    });
  }
  const m = GAR_HOST.exec(clean.hostname);
  const base = `${clean.protocol}//${clean.host}/${project}/${repository}/`;
  return {
    repoUrl: base,
    indexUrl: base + "simple/",
    project: decodeURIComponent(project),
    repository: decodeURIComponent(repository),
    location: m ? (m[1] as string).toLowerCase() : undefined,
  };
}
