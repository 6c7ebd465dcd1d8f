/**
 * Google Artifact Registry (Python format) as destination and source (Google Cloud's "Manage Python packages" and Python authentication docs).
 *
 * - Recognized by host `LOCATION-python.pkg.dev`; `gar+http(s)://HOST/PROJECT/REPO/` forces the
 *   kind (local fakes). Upload URL = repository URL, index = repository + `simple/` (HTML).
 * - Duplicate upload: 400 `requested entity already exists` (the engine then re-reads the index and
 *   compares sha256, never trusting the text alone).
 * - As a source it reads the simple index, not the REST API. Why: the index works with every
 *   credential form GAR takes for Python (including `_json_key_base64`, which the REST API does
 *   not accept), needs only the repository reader role, gives every file with its URL in one page
 *   per project, and is the same code that checks the destination. The REST `files` listing
 *   would add sizes and upload times, which the migration does not need; the engine hashes every
 *   file while it streams it either way.
 * - `--create-repository` goes through the REST API (rest.ts); without it a missing repository is
 *   an error naming the flag and the gcloud command. Without the flag no REST call is made.
 *
 * Test/advanced settings: PYREG_GAR_API_BASE (REST base, default
 * https://artifactregistry.googleapis.com/v1), PYREG_GAR_LOCATION (location for a forced URL whose
 * host does not carry one), PYREG_GCLOUD (the gcloud binary).
 */
import type { Readable } from "node:stream";
import { PyregError } from "../../core/errors.js";
import type {
  CoreMetadata,
  Destination,
  DistFile,
  LocalDist,
  Source,
  UploadResult,
} from "../../core/model.js";
import { redactUrl } from "../../http/redact.js";
import { SimpleIndexReader, SimpleSource, UploadDestination } from "../simple/index.js";
import type { RegistryContext, RegistryKind, RegistrySpec } from "../types.js";
import { resolveGarCredentials, type GarCredentials } from "./auth.js";
import { GarRest } from "./rest.js";
import { isGarHost, parseGarUrl, type GarRepository } from "./url.js";

export const GAR_EXISTS = /requested entity already exists/i;

/** Turns a bare 401/403 into a message that names the credential source and what to do. */
export function explainAuth(err: unknown, creds: GarCredentials): unknown {
  if (!(err instanceof PyregError) || err.code !== "AUTH" || (err.status !== 401 && err.status !== 403))
    return err;
  const what = err.status === 401 ? "refused the credentials" : "denied access with the credentials";
  return new PyregError(
    "AUTH",
    `Artifact Registry ${what} from ${creds.source} (${err.method ?? "GET"} ${err.url ?? ""})`,
    {
      method: err.method,
      url: err.url,
      status: err.status,
      serverAnswer: err.serverAnswer,
      hint:
        err.status === 401
          ? creds.refusedHint
          : "the account needs roles/artifactregistry.writer (destination) or .reader (source) on this repository",
      cause: err,
    },
  );
}

async function guarded<T>(creds: GarCredentials, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw explainAuth(err, creds);
  }
}

class GarDestination implements Destination {
  readonly kind = "gar";
  readonly needsMetadata = true;
  constructor(
    private readonly inner: UploadDestination,
    private readonly creds: GarCredentials,
  ) {}
  describe(): string {
    return `Google Artifact Registry ${redactUrl(this.inner.uploadUrl)} (index ${redactUrl(this.inner.reader.indexUrl)}, credentials: ${this.creds.source})`;
  }
  listFiles(project: string): Promise<Map<string, DistFile>> {
    return guarded(this.creds, () => this.inner.listFiles(project));
  }
  upload(file: LocalDist, meta: CoreMetadata): Promise<UploadResult> {
    return guarded(this.creds, () => this.inner.upload(file, meta));
  }
  open(file: DistFile): Promise<Readable> {
    return guarded(this.creds, () => this.inner.open(file));
  }
  invalidate(project: string): void {
    this.inner.invalidate(project);
  }
  pageStamp(project: string): Promise<string | undefined> {
    return guarded(this.creds, () => this.inner.pageStamp(project));
  }
}

class GarSource implements Source {
  readonly kind = "gar";
  constructor(
    private readonly inner: SimpleSource,
    private readonly creds: GarCredentials,
  ) {}
  describe(): string {
    return `Google Artifact Registry index ${redactUrl(this.inner.reader.indexUrl)} (credentials: ${this.creds.source})`;
  }
  listProjects(): Promise<string[]> {
    return guarded(this.creds, () => this.inner.listProjects());
  }
  listFiles(project: string): Promise<DistFile[]> {
    return guarded(this.creds, () => this.inner.listFiles(project));
  }
  pageStamp(project: string): Promise<string | undefined> {
    return guarded(this.creds, () => this.inner.pageStamp(project));
  }
  open(file: DistFile): Promise<Readable> {
    return guarded(this.creds, () => this.inner.open(file));
  }
}

function gcloudCreateCommand(repo: GarRepository, location: string | undefined): string {
  return (
    `gcloud artifacts repositories create ${repo.repository} --repository-format=python ` +
    `--location=${location ?? "LOCATION"} --project=${repo.project}`
  );
}

/** --create-repository: GET the repository; create it (and wait) when it is missing. */
async function ensureRepository(
  repo: GarRepository,
  creds: GarCredentials,
  ctx: RegistryContext,
): Promise<void> {
  const location = repo.location ?? ctx.options.location ?? ctx.env["PYREG_GAR_LOCATION"];
  if (!location) {
    throw new PyregError("USAGE", "--create-repository needs the repository's location", {
      hint: "give --location (e.g. us-central1), or use the https://LOCATION-python.pkg.dev/... URL",
    });
  }
  if (repo.location && ctx.options.location && ctx.options.location !== repo.location) {
    throw new PyregError(
      "USAGE",
      `--location ${ctx.options.location} differs from the URL's location ${repo.location}`,
    );
  }
  const rest = new GarRest(ctx.http, { base: ctx.env["PYREG_GAR_API_BASE"] });
  ctx.http.credentials.add(rest.base + "/", creds.api());
  const name = rest.repositoryName(repo.project, location, repo.repository);
  const existing = await guarded(creds, () => rest.getRepository(name));
  if (existing) {
    if (existing.format && existing.format !== "PYTHON") {
      throw new PyregError(
        "CONFIG",
        `Artifact Registry repository ${name} exists with format ${existing.format}, not PYTHON`,
        {
          hint: "choose another repository name for the Python packages",
        },
      );
    }
    ctx.log(`Artifact Registry repository ${name} already exists; not creating it`);
    return;
  }
  ctx.log(`creating Artifact Registry Python repository ${name}…`);
  const op = await guarded(creds, () =>
    rest.createRepository(repo.project, location, repo.repository, ctx.options.description),
  );
  const done = await guarded(creds, () => rest.waitForOperation(op));
  ctx.log(`created Artifact Registry Python repository ${name} (operation ${done.name})`);
}

function openReader(repo: GarRepository, ctx: RegistryContext, label: string): SimpleIndexReader {
  return new SimpleIndexReader(ctx.http, repo.indexUrl, {
    label,
    warn: ctx.log,
    allowForeignFileHosts: ctx.options.allowForeignFileHosts,
  });
}

async function setUp(
  spec: RegistrySpec,
  ctx: RegistryContext,
): Promise<{ repo: GarRepository; creds: GarCredentials }> {
  const url = spec.url;
  if (!url) throw new PyregError("USAGE", `${spec.display} is not a URL`);
  const repo = parseGarUrl(url);
  const creds = await resolveGarCredentials(url, ctx.side, ctx.env, ctx.log, ctx.credentials);
  ctx.http.credentials.add(repo.repoUrl, creds.repo);
  return { repo, creds };
}

export const garKind: RegistryKind = {
  name: "gar",
  help: "https://LOCATION-python.pkg.dev/PROJECT/REPO/ — Google Artifact Registry (gar+http(s):// forces it)",
  matches: (spec) => spec.url !== undefined && isGarHost(spec.url),

  async openSource(spec: RegistrySpec, ctx: RegistryContext): Promise<Source> {
    const { repo, creds } = await setUp(spec, ctx);
    return new GarSource(new SimpleSource(openReader(repo, ctx, "source (Artifact Registry)"), "gar"), creds);
  },

  async openDestination(spec: RegistrySpec, ctx: RegistryContext): Promise<Destination> {
    const { repo, creds } = await setUp(spec, ctx);
    if (ctx.options.toIndex)
      ctx.log("note: --to-index is ignored for Artifact Registry (its index is REPOSITORY/simple/)");
    if (ctx.options.createRepository) {
      await ensureRepository(repo, creds, ctx);
    } else {
      // One read of the index: proves the credentials and that the repository exists.
      const res = await guarded(creds, () =>
        ctx.http.fetch(repo.indexUrl, {
          label: "destination (Artifact Registry)",
          accept: (s) => s < 400 || s === 404,
        }),
      );
      if (res.status === 404) {
        const location = repo.location ?? ctx.options.location ?? ctx.env["PYREG_GAR_LOCATION"];
        throw new PyregError(
          "NOT_FOUND",
          `Artifact Registry repository ${repo.project}/${repo.repository} does not exist`,
          {
            url: redactUrl(repo.indexUrl),
            status: 404,
            hint: `pass --create-repository to create it, or run: ${gcloudCreateCommand(repo, location)}`,
          },
        );
      }
    }
    const reader = openReader(repo, ctx, "destination index (Artifact Registry)");
    const inner = new UploadDestination(ctx.http, repo.repoUrl, reader, {
      kind: "gar",
      label: "destination (Artifact Registry)",
      existsAnswer: GAR_EXISTS,
    });
    return new GarDestination(inner, creds);
  },
};
