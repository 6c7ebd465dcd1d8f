/**
 * A fake AWS CodeArtifact on loopback, reached through the REAL @aws-sdk/client-codeartifact with
 * an overridden endpoint. It verifies the SDK's Signature Version 4 (docs.aws.amazon.com/IAM/
 * latest/UserGuide/create-signed-request.html) against the known dummy secret and records:
 * - GetAuthorizationToken: POST /v1/authorization-token?domain=&domain-owner=&duration=
 *   → {"authorizationToken", "expiration"} (epoch seconds; REST-JSON timestamps);
 * - GetRepositoryEndpoint: GET /v1/repository/endpoint?domain=&domain-owner=&repository=&format=
 *   → {"repositoryEndpoint"}.
 * (Paths and parameter names: the SDK's own schema, dist-es/schemas/schemas_0.js.)
 * It also serves the PyPI repository at /pypi/REPO/ (Basic `aws` + token, simple index, upload;
 * an existing filename is a 409 for other bytes and a success for the same bytes, as AWS documents:
 * quoted at the answer).
 * Its simple index links hosted files with a `#sha512=` fragment, not sha256, as reported for the
 * real service (https://github.com/bazel-contrib/rules_python/issues/3972).
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { listenLoopback, type Loopback } from "./loopback.js";

export interface ApiCall {
  operation: string;
  query: Record<string, string>;
  accessKeyId: string;
  region: string;
  service: string;
  signatureValid: boolean;
}

function sha256hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

export class FakeCodeArtifact {
  readonly calls: ApiCall[] = [];
  readonly repoRequests: { method: string; path: string; status: number; user?: string }[] = [];
  readonly tokens = new Map<string, number>();
  readonly files = new Map<string, { project: string; bytes: Buffer; sha256: string }>();
  /** Uploads of a filename already held (answered 200 for the same bytes, 409 for others). */
  republished = 0;
  /** The fake's clock (epoch ms) for token expiry: Date.now unless a test drives it. */
  now: () => number = () => Date.now();
  tokenLifetimeSec = 43200;
  url = "";
  private server: Loopback | undefined;

  constructor(
    readonly accessKeyId: string,
    readonly secretAccessKey: string,
  ) {}

  async start(): Promise<this> {
    this.server = await listenLoopback((req, res) => this.handle(req, res));
    this.url = this.server.origin;
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  /** Recomputes the SigV4 signature of a request with the known secret. */
  private verifySigV4(req: IncomingMessage, url: URL, body: Buffer): Omit<ApiCall, "operation" | "query"> {
    const auth = req.headers.authorization ?? "";
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(
        auth,
      );
    if (!m) return { accessKeyId: "", region: "", service: "", signatureValid: false };
    const [, akid, date, region, service, signedHeaders, signature] = m as unknown as string[];
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const names = (signedHeaders as string).split(";");
    const canonicalHeaders = names
      .map(
        (n) =>
          `${n}:${String(req.headers[n] ?? "")
            .trim()
            .replace(/\s+/g, " ")}\n`,
      )
      .join("");
    const query = [...url.searchParams.entries()]
      .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const payloadHash = String(req.headers["x-amz-content-sha256"] ?? sha256hex(body));
    const canonical = [req.method, url.pathname, query, canonicalHeaders, signedHeaders, payloadHash].join(
      "\n",
    );
    const scope = `${date}/${region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256hex(canonical)].join("\n");
    let key = hmac("AWS4" + this.secretAccessKey, date as string);
    key = hmac(key, region as string);
    key = hmac(key, service as string);
    key = hmac(key, "aws4_request");
    const expected = createHmac("sha256", key).update(toSign).digest("hex");
    return {
      accessKeyId: akid as string,
      region: region as string,
      service: service as string,
      signatureValid: akid === this.accessKeyId && expected === signature,
    };
  }

  private json(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    res.statusCode = status;
    res.setHeader("content-type", "application/json");
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (url.pathname.startsWith("/v1/")) {
      const sig = this.verifySigV4(req, url, body);
      const operation =
        url.pathname === "/v1/authorization-token"
          ? "GetAuthorizationToken"
          : url.pathname === "/v1/repository/endpoint"
            ? "GetRepositoryEndpoint"
            : url.pathname;
      this.calls.push({ operation, query: Object.fromEntries(url.searchParams), ...sig });
      if (!sig.signatureValid) {
        return this.json(
          res,
          403,
          { message: "The request signature we calculated does not match the signature you provided." },
          {
            "x-amzn-errortype": "InvalidSignatureException",
          },
        );
      }
      if (operation === "GetAuthorizationToken" && req.method === "POST") {
        const token = "eyJ-fake-" + randomBytes(24).toString("hex");
        const lifetime = Number(url.searchParams.get("duration") ?? "") || this.tokenLifetimeSec;
        this.tokens.set(token, this.now() + lifetime * 1000);
        return this.json(res, 200, {
          authorizationToken: token,
          expiration: Math.floor(this.now() / 1000) + lifetime,
        });
      }
      if (operation === "GetRepositoryEndpoint" && req.method === "GET") {
        return this.json(res, 200, {
          repositoryEndpoint: `${this.url}/pypi/${url.searchParams.get("repository")}/`,
        });
      }
      return this.json(
        res,
        404,
        { message: "not found" },
        { "x-amzn-errortype": "ResourceNotFoundException" },
      );
    }

    // The PyPI repository.
    const rec: { method: string; path: string; status: number; user?: string } = {
      method: req.method ?? "GET",
      path: url.pathname,
      status: 0,
    };
    const send = (status: number, text: string | Buffer, type = "text/plain"): void => {
      rec.status = status;
      this.repoRequests.push(rec);
      res.statusCode = status;
      res.setHeader("content-type", type);
      res.end(text);
    };
    const m = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
    const [user, pass] = m
      ? Buffer.from(m[1] as string, "base64")
          .toString("utf8")
          .split(/:(.*)/s)
      : [];
    if (user !== undefined) rec.user = user;
    const exp = pass ? this.tokens.get(pass) : undefined;
    if (user !== "aws" || exp === undefined || this.now() >= exp) return send(401, "Unauthorized");
    const parts = url.pathname.split("/").filter(Boolean);
    if (req.method === "POST" && parts.length === 2) {
      const form = await new Request("http://x/", {
        method: "POST",
        headers: { "content-type": req.headers["content-type"] ?? "" },
        body: new Uint8Array(body),
      }).formData();
      const file = form.get("content");
      const name = form.get("name");
      if (!(file instanceof File) || typeof name !== "string") return send(400, "bad upload");
      const bytes = Buffer.from(await file.arrayBuffer());
      // AWS CodeArtifact User Guide, "Packages overview" → "Overwriting package assets"
      // (https://docs.aws.amazon.com/codeartifact/latest/ug/packages-overview.html): "You can't
      // republish a package asset that already exists with different content. [...] Trying to
      // republish the same asset name with different content will result in an HTTP 409 conflict
      // error." and "If you try to republish an asset that already exists [...], and the content of
      // the published asset and the new asset are identical, the operation will succeed because the
      // operation is idempotent." The 409's body is not documented; this one is made up.
      const held = this.files.get(file.name);
      if (held) {
        this.republished++;
        return held.bytes.equals(bytes) ? send(200, "") : send(409, "Conflict: the asset already exists");
      }
      this.files.set(file.name, {
        project: name.toLowerCase().replace(/[-_.]+/g, "-"),
        bytes,
        sha256: sha256hex(bytes),
      });
      return send(200, "");
    }
    if (parts[2] === "simple" && parts.length === 4) {
      const want = parts[3];
      const links = [...this.files.entries()]
        .filter(([, f]) => f.project === want)
        .map(
          ([fn, f]) =>
            `<a href="/pypi/${parts[1]}/files/${fn}#sha512=${createHash("sha512").update(f.bytes).digest("hex")}">${fn}</a>`,
        );
      if (links.length === 0) return send(404, "not found");
      return send(200, `<html><body>${links.join("<br>")}</body></html>`, "text/html");
    }
    if (req.method === "GET" && parts[2] === "files" && parts.length === 4) {
      const f = this.files.get(decodeURIComponent(parts[3] as string));
      return f ? send(200, f.bytes, "application/octet-stream") : send(404, "not found");
    }
    if (parts[2] === "simple" && parts.length === 3) {
      const names = [...new Set([...this.files.values()].map((f) => f.project))];
      return send(
        200,
        `<html><body>${names.map((n) => `<a href="${n}/">${n}</a>`).join("")}</body></html>`,
        "text/html",
      );
    }
    return send(404, "not found");
  }
}
