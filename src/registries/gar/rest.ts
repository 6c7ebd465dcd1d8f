/**
 * The few Artifact Registry REST v1 calls `--create-repository` needs. Reference:
 * cloud.google.com/artifact-registry/docs/reference/rest/v1/
 *   - projects.locations.repositories/get:    GET  v1/{name=projects/* /locations/* /repositories/*}
 *   - projects.locations.repositories/create: POST v1/{parent=projects/* /locations/*}/repositories
 *       ?repositoryId=R, body = Repository ({"format":"PYTHON","description":...}); "The returned
 *       Operation will finish once the repository has been created. Its response will be the
 *       created Repository." Needs artifactregistry.repositories.create and the cloud-platform scope.
 *   - projects.locations.operations/get:      GET  v1/{name=projects/* /locations/* /operations/*}
 *       returns the Operation: {name, done, error?: Status{code,message}, response?}.
 * The base is https://artifactregistry.googleapis.com/v1; PYREG_GAR_API_BASE overrides it (tests,
 * private endpoints). Every answer is validated here.
 */
import * as z from "../../core/zod.js";
import { PyregError } from "../../core/errors.js";
import type { HttpClient } from "../../http/client.js";
import { redactUrl } from "../../http/redact.js";

export const DEFAULT_GAR_API_BASE = "https://artifactregistry.googleapis.com/v1";
const LABEL = "Artifact Registry API";

const Repository = z.looseObject({
  name: z.string(),
  format: z.optional(z.string()),
  description: z.optional(z.string()),
});
export type Repository = z.infer<typeof Repository>;

const Status = z.looseObject({ code: z.optional(z.number()), message: z.optional(z.string()) });
const Operation = z.looseObject({
  name: z.string().check(z.minLength(1)),
  done: z.optional(z.boolean()),
  error: z.optional(Status),
  response: z.optional(z.unknown()),
});
export type Operation = z.infer<typeof Operation>;

function parse<T>(schema: z.ZodMiniType<T>, data: unknown, what: string, method: string, url: string): T {
  const r = schema.safeParse(data);
  if (!r.success) {
    throw new PyregError("MALFORMED_INDEX", `${LABEL} answered with an unexpected ${what}`, {
      method,
      url: redactUrl(url),
      serverAnswer: z.problems(r.error, 3),
    });
  }
  return r.data;
}

export interface GarRestOptions {
  base?: string | undefined;
  /** Delays between operation polls, in ms (the last one repeats). */
  pollDelaysMs?: number[] | undefined;
  /** Give up waiting for the operation after this long. */
  pollTimeoutMs?: number | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
}

export class GarRest {
  readonly base: string;
  private readonly delays: number[];
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly http: HttpClient,
    opts: GarRestOptions = {},
  ) {
    this.base = (opts.base ?? DEFAULT_GAR_API_BASE).replace(/\/+$/, "");
    this.delays = opts.pollDelaysMs ?? [500, 1000, 2000, 5000];
    this.timeoutMs = opts.pollTimeoutMs ?? 5 * 60_000;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  repositoryName(project: string, location: string, repository: string): string {
    return `projects/${encodeURIComponent(project)}/locations/${encodeURIComponent(location)}/repositories/${encodeURIComponent(repository)}`;
  }

  /** The repository, or undefined when it does not exist (404). */
  async getRepository(name: string): Promise<Repository | undefined> {
    const url = `${this.base}/${name}`;
    const { data, res } = await this.http.fetchJson(url, {
      label: LABEL,
      accept: (s) => s < 400 || s === 404,
    });
    if (res.status === 404) return undefined;
    return parse(Repository, data, "repository", "GET", url);
  }

  /** Starts creating a Python repository; returns the long-running Operation. */
  async createRepository(
    project: string,
    location: string,
    repository: string,
    description?: string,
  ): Promise<Operation> {
    const parent = `projects/${encodeURIComponent(project)}/locations/${encodeURIComponent(location)}`;
    const url = `${this.base}/${parent}/repositories?repositoryId=${encodeURIComponent(repository)}`;
    const body = JSON.stringify({ format: "PYTHON", ...(description ? { description } : {}) });
    const { data } = await this.http.fetchJson(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      label: LABEL,
    });
    return parse(Operation, data, "operation", "POST", url);
  }

  /** Polls operations.get until the operation is done; a failed operation is an error. */
  async waitForOperation(op: Operation, onWait?: (n: number) => void): Promise<Operation> {
    const started = Date.now();
    let current = op;
    for (let n = 0; !current.done; n++) {
      if (Date.now() - started > this.timeoutMs) {
        throw new PyregError(
          "TIMEOUT",
          `${LABEL}: operation ${current.name} is not done after ${Math.round(this.timeoutMs / 1000)} s`,
          {
            hint: `look at it with: gcloud artifacts operations describe ${current.name.split("/").pop() ?? current.name}`,
          },
        );
      }
      await this.sleep(this.delays[Math.min(n, this.delays.length - 1)] ?? 1000);
      onWait?.(n + 1);
      const url = `${this.base}/${current.name}`;
      const { data } = await this.http.fetchJson(url, { label: LABEL });
      current = parse(Operation, data, "operation", "GET", url);
    }
    if (current.error) {
      throw new PyregError(
        current.error.code === 7 ? "AUTH" : "HTTP",
        `${LABEL}: operation ${current.name} failed: ${current.error.message ?? "no message"} (code ${current.error.code ?? "?"})`,
      );
    }
    return current;
  }
}
