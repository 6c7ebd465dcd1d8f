/**
 * A fake Google Artifact Registry on loopback, written from the documentation, that records what
 * the client sent. One server plays three parts:
 *
 * 1. A Python repository at `/PROJECT/REPO/` (cloud.google.com/artifact-registry/docs/python/
 *    authentication; Google Cloud's Artifact Registry Python authentication docs): HTTP Basic only, username `oauth2accesstoken` + an access
 *    token this fake issued (expired → 401), or `_json_key_base64` + base64 of a registered
 *    service-account key; legacy upload (multipart POST to the repository URL); duplicate filename
 *    → 400 `requested entity already exists` (sources quoted at the answer); HTML simple index at
 *    `simple/` and `simple/NAME/`
 *    with `#sha256=` links to `/PROJECT/REPO/NAME/FILENAME`.
 * 2. The Artifact Registry REST v1 API at `/v1/` (Bearer token): repositories.get (404/200),
 *    repositories.create (→ long-running Operation), operations.get (done after N polls).
 * 3. An OAuth 2.0 token endpoint at `/token` for google-auth-library: the JWT-bearer grant
 *    (RFC 7523) with an RS256 assertion verified against the registered public key (a wrong key
 *    → 400 invalid_grant "Invalid JWT Signature.", as Google answers), and the refresh_token grant
 *    (gcloud user credentials).
 */
import { createHash, createVerify, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback, type Loopback } from "./loopback.js";

export interface RecordedRequest {
  method: string;
  path: string;
  /** "basic:oauth2accesstoken", "basic:_json_key_base64", "bearer", "none", "basic:<other>". */
  auth: string;
  /** The token or key id the request carried (for assertions only). */
  credential?: string | undefined;
  status: number;
  /** Upload form fields (without the file), for uploads. */
  fields?: [string, string][];
  body?: string;
}

export interface StoredFile {
  project: string;
  filename: string;
  bytes: Buffer;
  sha256: string;
  fields: [string, string][];
}

interface RegisteredKey {
  clientEmail: string;
  privateKeyId: string;
  publicKeyPem: string;
}

export interface FakeGarOptions {
  /** expires_in of issued tokens, in seconds (Google: 3599). */
  tokenLifetimeSec?: number;
  /** operations.get answers done:true on this poll (1 = the first poll). */
  operationDoneAfterPolls?: number;
  /** Make the operation fail with this Status. */
  operationError?: { code: number; message: string };
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, "-");
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function b64urlDecode(s: string): Buffer {
  return Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class FakeGar {
  readonly requests: RecordedRequest[] = [];
  /** "project/repo" → filename → file. */
  readonly repos = new Map<string, Map<string, StoredFile>>();
  /** Repositories as the REST API knows them: "projects/P/locations/L/repositories/R" → body. */
  readonly restRepos = new Map<string, Record<string, unknown>>();
  readonly operations = new Map<string, { polls: number; repoName: string; body: Record<string, unknown> }>();
  /** Token → expiry (ms); the JWT claims of each exchange, for assertions. */
  readonly tokens = new Map<string, number>();
  readonly tokenRequests: { grantType: string; claims?: Record<string, unknown>; ok: boolean }[] = [];
  readonly keys = new Map<string, RegisteredKey>();
  readonly refreshTokens = new Set<string>();
  tokenLifetimeSec: number;
  /**
   * The fake's clock (epoch ms), which decides when a token it issued has expired: Date.now unless
   * a test drives it, so that tokens expire when the test says, not when real time has passed.
   */
  now: () => number = () => Date.now() + this.clockOffset;
  /**
   * Each upload received moves the fake's clock on by this much before the token is checked (an
   * upload "takes" this long on the server's clock; 0: the clock is left alone).
   */
  uploadTakesMs = 0;
  private clockOffset = 0;
  operationDoneAfterPolls: number;
  operationError: { code: number; message: string } | undefined;
  private server: Loopback | undefined;
  url = "";

  constructor(opts: FakeGarOptions = {}) {
    this.tokenLifetimeSec = opts.tokenLifetimeSec ?? 3599;
    this.operationDoneAfterPolls = opts.operationDoneAfterPolls ?? 2;
    this.operationError = opts.operationError;
  }

  async start(): Promise<this> {
    this.server = await listenLoopback((req, res) => this.handle(req, res));
    this.url = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  /** The repository URL the client is given (forced kind, loopback). */
  repoUrl(project: string, repo: string): string {
    return `${this.url}/${project}/${repo}/`;
  }

  get apiBase(): string {
    return `${this.url}/v1`;
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }

  /** A repository that exists (both on the pkg.dev side and in the REST API). */
  addRepository(project: string, repo: string, location = "us-central1"): void {
    this.repos.set(`${project}/${repo}`, this.repos.get(`${project}/${repo}`) ?? new Map());
    this.restRepos.set(`projects/${project}/locations/${location}/repositories/${repo}`, {
      name: `projects/${project}/locations/${location}/repositories/${repo}`,
      format: "PYTHON",
    });
  }

  registerKey(clientEmail: string, privateKeyId: string, publicKeyPem: string): void {
    this.keys.set(clientEmail, { clientEmail, privateKeyId, publicKeyPem });
  }

  issueToken(lifetimeSec = this.tokenLifetimeSec): string {
    const token = "ya29.fake-" + randomBytes(18).toString("hex");
    this.tokens.set(token, this.now() + lifetimeSec * 1000);
    return token;
  }

  /** Files stored in a repository, by filename. */
  files(project: string, repo: string): Map<string, StoredFile> {
    return this.repos.get(`${project}/${repo}`) ?? new Map();
  }

  private send(
    res: ServerResponse,
    rec: RecordedRequest,
    status: number,
    body: string,
    type = "text/plain",
  ): void {
    rec.status = status;
    this.requests.push(rec);
    res.statusCode = status;
    res.setHeader("content-type", type);
    if (status === 401) res.setHeader("www-authenticate", 'Basic realm="Artifact Registry"');
    res.end(body);
  }

  private json(res: ServerResponse, rec: RecordedRequest, status: number, body: unknown): void {
    this.send(res, rec, status, JSON.stringify(body), "application/json; charset=UTF-8");
  }

  private tokenValid(token: string): boolean {
    const exp = this.tokens.get(token);
    return exp !== undefined && this.now() < exp;
  }

  /** Checks Basic auth on the repository host; returns an error text or undefined. */
  private checkBasic(req: IncomingMessage, rec: RecordedRequest): string | undefined {
    const h = req.headers.authorization ?? "";
    const m = /^Basic (.+)$/i.exec(h);
    if (!m) {
      rec.auth = h ? "other" : "none";
      return "Unauthenticated request. Unauthenticated requests do not have permission";
    }
    const decoded = Buffer.from(m[1] as string, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    const user = decoded.slice(0, i);
    const pass = decoded.slice(i + 1);
    rec.auth = `basic:${user}`;
    if (user === "oauth2accesstoken") {
      rec.credential = pass;
      return this.tokenValid(pass) ? undefined : "Invalid or expired access token";
    }
    if (user === "_json_key_base64") {
      try {
        const key = JSON.parse(Buffer.from(pass, "base64").toString("utf8")) as Record<string, unknown>;
        const reg = this.keys.get(String(key["client_email"]));
        rec.credential = String(key["private_key_id"]);
        return reg && reg.privateKeyId === key["private_key_id"] ? undefined : "Invalid service account key";
      } catch {
        return "Invalid service account key";
      }
    }
    return "Unsupported username";
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const path = decodeURIComponent(url.pathname);
    const rec: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname + url.search,
      auth: "none",
      status: 0,
    };
    if (path === "/token" && req.method === "POST") return this.handleToken(req, res, rec);
    if (path.startsWith("/v1/")) return this.handleRest(req, res, rec, url);

    const parts = path.split("/").filter(Boolean);
    const [project, repo, ...rest] = parts;
    const files = project && repo ? this.repos.get(`${project}/${repo}`) : undefined;
    if (req.method === "POST" && rest.length === 0) this.clockOffset += this.uploadTakesMs;
    const authError = this.checkBasic(req, rec);
    if (authError) return this.send(res, rec, 401, authError);
    if (!files) return this.send(res, rec, 404, "Requested entity was not found.");

    if (req.method === "POST" && rest.length === 0) {
      const body = await readBody(req);
      const form = await new Request("http://x/", {
        method: "POST",
        headers: { "content-type": req.headers["content-type"] ?? "" },
        body: new Uint8Array(body),
      }).formData();
      const fields: [string, string][] = [];
      let file: File | undefined;
      for (const [k, v] of form.entries()) {
        if (typeof v === "string") fields.push([k, v]);
        else if (k === "content") file = v;
      }
      rec.fields = fields;
      const name = fields.find(([k]) => k === "name")?.[1];
      if (!file || !name) return this.send(res, rec, 400, "missing content or name");
      // Google does not document this answer; what the service sends is quoted in twine's tracker:
      // status 400, reason "bad request", body 'requested entity already exists\n'
      // (https://github.com/pypa/twine/issues/816, fixed for --skip-existing by
      // https://github.com/pypa/twine/pull/823: "GCP includes the same 'already exist' note as PyPI
      // in a 400 response, but in `text` rather than `reason`"); a later log shows
      // "400 Bad Request" / "Requested entity already exists." (https://github.com/pypa/twine/issues/1007).
      if (files.has(file.name)) return this.send(res, rec, 400, "requested entity already exists\n");
      const bytes = Buffer.from(await file.arrayBuffer());
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      const sent = fields.find(([k]) => k === "sha256_digest")?.[1];
      if (sent && sent !== sha256) return this.send(res, rec, 400, "sha256 digest does not match");
      files.set(file.name, { project: normalize(name), filename: file.name, bytes, sha256, fields });
      return this.send(res, rec, 200, "");
    }
    if (req.method !== "GET" && req.method !== "HEAD") return this.send(res, rec, 405, "method not allowed");

    if (rest[0] === "simple" && rest.length === 1) {
      const names = [...new Set([...files.values()].map((f) => f.project))].sort();
      const links = names.map((n) => `<a href="${escapeHtml(n)}/">${escapeHtml(n)}</a>`).join("<br>\n");
      return this.send(res, rec, 200, `<!DOCTYPE html><html><body>\n${links}\n</body></html>`, "text/html");
    }
    if (rest[0] === "simple" && rest.length === 2) {
      const want = normalize(rest[1] as string);
      const mine = [...files.values()].filter((f) => f.project === want);
      if (mine.length === 0) return this.send(res, rec, 404, "Requested entity was not found.");
      const links = mine
        .map((f) => {
          const href = `/${project}/${repo}/${f.project}/${encodeURIComponent(f.filename)}#sha256=${f.sha256}`;
          const rp = f.fields.find(([k]) => k === "requires_python")?.[1];
          return `<a href="${escapeHtml(href)}"${rp ? ` data-requires-python="${escapeHtml(rp)}"` : ""}>${escapeHtml(f.filename)}</a>`;
        })
        .join("<br>\n");
      return this.send(res, rec, 200, `<!DOCTYPE html><html><body>\n${links}\n</body></html>`, "text/html");
    }
    if (rest.length === 2) {
      const f = files.get(rest[1] as string);
      if (!f || f.project !== rest[0]) return this.send(res, rec, 404, "Requested entity was not found.");
      rec.status = 200;
      this.requests.push(rec);
      res.setHeader("content-type", "application/octet-stream");
      res.setHeader("content-length", String(f.bytes.length));
      res.end(req.method === "HEAD" ? undefined : f.bytes);
      return;
    }
    return this.send(res, rec, 404, "Requested entity was not found.");
  }

  private async handleToken(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest): Promise<void> {
    const form = new URLSearchParams((await readBody(req)).toString("utf8"));
    const grantType = form.get("grant_type") ?? "";
    rec.auth = "none";
    const bad = (description: string): void => {
      this.tokenRequests.push({ grantType, ok: false });
      this.json(res, rec, 400, { error: "invalid_grant", error_description: description });
    };
    if (grantType === "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      const assertion = form.get("assertion") ?? "";
      const [h, p, s] = assertion.split(".");
      if (!h || !p || !s) return bad("Invalid JWT.");
      const claims = JSON.parse(b64urlDecode(p).toString("utf8")) as Record<string, unknown>;
      const key = this.keys.get(String(claims["iss"]));
      if (!key) return bad("Invalid grant: account not found");
      const ok = createVerify("RSA-SHA256").update(`${h}.${p}`).verify(key.publicKeyPem, b64urlDecode(s));
      if (!ok) {
        this.tokenRequests.push({ grantType, claims, ok: false });
        return this.json(res, rec, 400, {
          error: "invalid_grant",
          error_description: "Invalid JWT Signature.",
        });
      }
      this.tokenRequests.push({ grantType, claims, ok: true });
      return this.json(res, rec, 200, {
        access_token: this.issueToken(),
        expires_in: this.tokenLifetimeSec,
        token_type: "Bearer",
      });
    }
    if (grantType === "refresh_token") {
      if (!this.refreshTokens.has(form.get("refresh_token") ?? ""))
        return bad("Token has been expired or revoked.");
      this.tokenRequests.push({ grantType, ok: true });
      return this.json(res, rec, 200, {
        access_token: this.issueToken(),
        expires_in: this.tokenLifetimeSec,
        token_type: "Bearer",
        scope: "https://www.googleapis.com/auth/cloud-platform",
      });
    }
    return this.json(res, rec, 400, { error: "unsupported_grant_type" });
  }

  private async handleRest(
    req: IncomingMessage,
    res: ServerResponse,
    rec: RecordedRequest,
    url: URL,
  ): Promise<void> {
    const h = req.headers.authorization ?? "";
    const m = /^Bearer (.+)$/.exec(h);
    rec.auth = m ? "bearer" : h ? "other" : "none";
    rec.credential = m?.[1];
    const body = (await readBody(req)).toString("utf8");
    if (body) rec.body = body;
    if (!m || !this.tokenValid(m[1] as string)) {
      return this.json(res, rec, 401, {
        error: {
          code: 401,
          message: "Request had invalid authentication credentials.",
          status: "UNAUTHENTICATED",
        },
      });
    }
    const name = url.pathname.slice("/v1/".length);
    const notFound = (): void =>
      this.json(res, rec, 404, {
        error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" },
      });

    const create = /^projects\/([^/]+)\/locations\/([^/]+)\/repositories$/.exec(name);
    if (req.method === "POST" && create) {
      const id = url.searchParams.get("repositoryId");
      if (!id) return this.json(res, rec, 400, { error: { code: 400, message: "repositoryId is required" } });
      const repoName = `${name}/${id}`;
      if (this.restRepos.has(repoName)) {
        // Google's API error model (https://cloud.google.com/apis/design/errors, "Error codes"):
        // ALREADY_EXISTS is HTTP 409, "The resource that a client tried to create already exists."
        return this.json(res, rec, 409, {
          error: { code: 409, message: "the repository already exists", status: "ALREADY_EXISTS" },
        });
      }
      const opName = `projects/${create[1]}/locations/${create[2]}/operations/${randomUUID()}`;
      this.operations.set(opName, {
        polls: 0,
        repoName,
        body: JSON.parse(body || "{}") as Record<string, unknown>,
      });
      return this.json(res, rec, 200, {
        name: opName,
        metadata: { "@type": "type.googleapis.com/google.devtools.artifactregistry.v1.OperationMetadata" },
      });
    }
    if (req.method === "GET" && /^projects\/[^/]+\/locations\/[^/]+\/operations\/[^/]+$/.test(name)) {
      const op = this.operations.get(name);
      if (!op) return notFound();
      op.polls++;
      if (op.polls < this.operationDoneAfterPolls) return this.json(res, rec, 200, { name, done: false });
      if (this.operationError)
        return this.json(res, rec, 200, { name, done: true, error: this.operationError });
      const repoBody = { ...op.body, name: op.repoName };
      this.restRepos.set(op.repoName, repoBody);
      const [, project, , , , repo] = op.repoName.split("/");
      this.repos.set(`${project}/${repo}`, this.repos.get(`${project}/${repo}`) ?? new Map());
      return this.json(res, rec, 200, {
        name,
        done: true,
        response: {
          "@type": "type.googleapis.com/google.devtools.artifactregistry.v1.Repository",
          ...repoBody,
        },
      });
    }
    if (req.method === "GET" && /^projects\/[^/]+\/locations\/[^/]+\/repositories\/[^/]+$/.test(name)) {
      const r = this.restRepos.get(name);
      return r ? this.json(res, rec, 200, r) : notFound();
    }
    return notFound();
  }
}

export interface ServiceAccountKeyFile {
  type: "service_account";
  project_id: string;
  private_key_id: string;
  private_key: string;
  client_email: string;
  client_id: string;
  token_uri: string;
}

/**
 * A throw-away service-account key (fresh RSA pair) whose token_uri is this fake's token
 * endpoint; `register: false` makes a key the fake does not know (a "wrong key").
 */
export function makeServiceAccountKey(
  fake: FakeGar,
  clientEmail = "migrator@proj.iam.gserviceaccount.com",
  opts: { register?: boolean } = {},
): ServiceAccountKeyFile {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  const privateKeyId = randomBytes(20).toString("hex");
  if (opts.register !== false) fake.registerKey(clientEmail, privateKeyId, publicKey);
  return {
    type: "service_account",
    project_id: "proj",
    private_key_id: privateKeyId,
    private_key: privateKey,
    client_email: clientEmail,
    client_id: "1234567890",
    token_uri: fake.tokenUri,
  };
}
