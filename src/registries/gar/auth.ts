/**
 * Credentials for Google Artifact Registry, tried in this order:
 *   1. the configured username/password (URL, PYREG_TO_* / PYREG_FROM_*, ~/.netrc) where the
 *      username is `oauth2accesstoken` (password = an OAuth access token) or `_json_key_base64`
 *      (password = base64 of a service-account key file);
 *   2. GOOGLE_ACCESS_TOKEN;
 *   3. Application Default Credentials through google-auth-library (GOOGLE_APPLICATION_CREDENTIALS,
 *      gcloud's application_default_credentials.json, the metadata server);
 *   4. `gcloud auth print-access-token`.
 * Both Basic forms are what Artifact Registry documents for Python repositories
 * (cloud.google.com/artifact-registry/docs/python/authentication, "Password authentication";
 * GoogleCloudPlatform/artifact-registry-python-tools keyrings/gauth.py uses oauth2accesstoken).
 *
 * `_json_key_base64` is sent as Basic as is: Artifact Registry accepts it directly, it does not
 * expire, and the key never has to be exchanged at a token endpoint for repository traffic. The
 * REST API (artifactregistry.googleapis.com, used by --create-repository) only takes OAuth
 * tokens, so for that one the key is exchanged through google-auth-library.
 *
 * Access tokens live about an hour: tokens are refreshed before they expire (5 minutes early, or a
 * quarter of their lifetime when that is shorter) and once more after a 401 (HttpClient calls
 * `refresh()`). Tokens are registered as secrets so they never appear in output.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
// google-auth-library is loaded only when Google credentials are used (see googleAuthFetcher).
import type { GoogleAuth } from "google-auth-library";
import * as z from "../../core/zod.js";
import { PyregError, errorMessage } from "../../core/errors.js";
import type { AuthValue, CredentialProvider } from "../../http/credentials.js";
import { redactText, registerSecret } from "../../http/redact.js";
import { childEnv, resolveBasicCredentials, type CredentialHints } from "../auth.js";
import type { Side } from "../types.js";

export const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";
/** The token endpoint google-auth-library v10 always posts service-account JWTs to (gtoken/getToken.js). */
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
const MAX_MARGIN_MS = 5 * 60_000;
/** gcloud does not say when its token expires; they live about an hour, assume a little less. */
const GCLOUD_ASSUMED_LIFETIME_MS = 50 * 60_000;

export interface Token {
  token: string;
  /** Epoch milliseconds; undefined when unknown (a token given by the user). */
  expiresAt?: number | undefined;
  /**
   * How long the token lives from when it was fetched, when that is what the source knows (an
   * OAuth `expires_in`): the cache turns it into an expiry on its own clock.
   */
  lifetimeMs?: number | undefined;
}

/** Where tokens come from. `refreshable` is false for tokens the user handed in. */
export interface TokenFetcher {
  readonly source: string;
  readonly refreshable: boolean;
  fetch(): Promise<Token>;
}

/** Caches one token, renews it before it expires, and forces a renewal after a 401. */
export class TokenCache {
  private current: (Token & { fetchedAt: number }) | undefined;
  private inflight: Promise<Token> | undefined;

  constructor(
    readonly fetcher: TokenFetcher,
    private readonly now: () => number = Date.now,
  ) {}

  get source(): string {
    return this.fetcher.source;
  }

  private expiring(): boolean {
    const c = this.current;
    if (!c) return true;
    if (c.expiresAt === undefined) return false;
    const lifetime = Math.max(0, c.expiresAt - c.fetchedAt);
    const margin = Math.min(MAX_MARGIN_MS, lifetime / 4);
    return this.now() >= c.expiresAt - margin;
  }

  private load(): Promise<Token> {
    if (!this.inflight) {
      const fetchedAt = this.now();
      this.inflight = this.fetcher
        .fetch()
        .then((t) => {
          registerSecret(t.token);
          const expiresAt =
            t.expiresAt ?? (t.lifetimeMs !== undefined ? fetchedAt + t.lifetimeMs : undefined);
          this.current = { token: t.token, expiresAt, fetchedAt };
          return t;
        })
        .finally(() => (this.inflight = undefined));
    }
    return this.inflight;
  }

  async token(): Promise<string> {
    if (this.expiring() && (this.fetcher.refreshable || !this.current)) return (await this.load()).token;
    return (this.current as Token).token;
  }

  /** After a 401: get a new token if this source can; true if it changed. */
  async refresh(): Promise<boolean> {
    if (!this.fetcher.refreshable) return false;
    const before = this.current?.token;
    this.current = undefined;
    const t = await this.load();
    return t.token !== before;
  }
}

/** Basic `oauth2accesstoken:<token>` over a token cache (what the pkg.dev host takes). */
export function basicTokenProvider(cache: TokenCache): CredentialProvider {
  return {
    get source() {
      return cache.source;
    },
    get: async (): Promise<AuthValue> => ({
      type: "basic",
      username: "oauth2accesstoken",
      password: await cache.token(),
    }),
    refresh: () => cache.refresh(),
  };
}

/** `Authorization: Bearer <token>` over a token cache (what the REST API takes). */
export function bearerTokenProvider(cache: TokenCache): CredentialProvider {
  return {
    get source() {
      return cache.source;
    },
    get: async (): Promise<AuthValue> => ({
      type: "header",
      name: "authorization",
      value: `Bearer ${await cache.token()}`,
    }),
    refresh: () => cache.refresh(),
  };
}

export function staticTokenFetcher(source: string, token: string): TokenFetcher {
  registerSecret(token);
  return { source, refreshable: false, fetch: () => Promise.resolve({ token }) };
}

const ServiceAccountKey = z.looseObject({
  type: z.literal("service_account"),
  client_email: z.string().check(z.minLength(1)),
  private_key: z.string().check(z.minLength(1)),
  private_key_id: z.optional(z.string()),
  token_uri: z.optional(z.string()),
});
export type ServiceAccountKey = z.infer<typeof ServiceAccountKey>;

const CredentialsFile = z.looseObject({
  type: z.string(),
  client_email: z.optional(z.string()),
  token_uri: z.optional(z.string()),
});

/** Decodes a `_json_key_base64` password; a wrong value is a specific error naming where it came from. */
export function decodeJsonKeyBase64(b64: string, source: string): ServiceAccountKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(b64.trim(), "base64").toString("utf8"));
  } catch {
    throw new PyregError(
      "AUTH",
      `the _json_key_base64 password from ${source} is not base64 of a JSON key file`,
      {
        hint: "use the output of `base64 -w0 KEY.json` (a service-account key created with gcloud iam service-accounts keys create)",
      },
    );
  }
  const key = ServiceAccountKey.safeParse(parsed);
  if (!key.success) {
    throw new PyregError(
      "AUTH",
      `the _json_key_base64 password from ${source} is not a service-account key`,
      {
        hint: 'a service-account key file has "type": "service_account", "client_email" and "private_key"',
      },
    );
  }
  registerSecret(key.data.private_key);
  return key.data;
}

/** The minimal view of a google-auth-library client pyreg needs (it has a gaxios transporter). */
interface AuthClientLike {
  getAccessToken(): Promise<{ token?: string | null | undefined }>;
  credentials: { expiry_date?: number | null | undefined; access_token?: string | null | undefined };
  transporter?: {
    interceptors?: {
      request?: { add(i: { resolved?: (c: { url: URL }) => Promise<{ url: URL }> }): unknown };
    };
  };
}

/**
 * google-auth-library v10 posts service-account JWTs to https://oauth2.googleapis.com/token and
 * ignores the key file's `token_uri` (gtoken/getToken.js hard-codes it). Python's google-auth
 * honours `token_uri`; so does pyreg, by redirecting that one URL on the client's own transporter.
 * This is also what lets the tests point a real key file at a local token endpoint.
 */
function honourTokenUri(client: AuthClientLike, tokenUri: string | undefined): void {
  if (!tokenUri || tokenUri === GOOGLE_TOKEN_URL || !/^https?:\/\//i.test(tokenUri)) return;
  client.transporter?.interceptors?.request?.add({
    resolved: (config) => {
      if (config.url.href === GOOGLE_TOKEN_URL) config.url = new URL(tokenUri);
      return Promise.resolve(config);
    },
  });
}

/** Tokens from google-auth-library (service-account key, gcloud ADC file, metadata server). */
export function googleAuthFetcher(
  source: string,
  options: {
    credentials?: ServiceAccountKey | undefined;
    keyFilename?: string | undefined;
    tokenUri?: string | undefined;
  },
): TokenFetcher {
  let auth: GoogleAuth | undefined;
  let client: AuthClientLike | undefined;
  return {
    source,
    refreshable: true,
    async fetch(): Promise<Token> {
      try {
        if (!client) {
          const { GoogleAuth } = await import("google-auth-library");
          auth ??= new GoogleAuth({
            scopes: [CLOUD_PLATFORM_SCOPE],
            ...(options.credentials ? { credentials: options.credentials } : {}),
            ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
          });
          client = (await auth.getClient()) as unknown as AuthClientLike;
          honourTokenUri(client, options.tokenUri ?? options.credentials?.token_uri);
        }
        // Always ask the library for a new token: pyreg's cache decides when one is needed.
        // expiry_date 1 (long past), not null: the JWT client only forces its gtoken cache when the
        // current token is "expiring" (jwtclient.js refreshTokenNoCache, forceRefresh).
        client.credentials = { ...client.credentials, access_token: null, expiry_date: 1 };
        const { token } = await client.getAccessToken();
        if (!token) throw new Error("google-auth-library returned no access token");
        registerSecret(token);
        // google-auth-library sets expiry_date = its Date.now() + expires_in: what is left of it
        // is the token's lifetime, which the cache counts on its own clock.
        const expiry = client.credentials.expiry_date;
        return {
          token,
          lifetimeMs: typeof expiry === "number" ? Math.max(0, expiry - Date.now()) : undefined,
        };
      } catch (err) {
        throw tokenError(source, err);
      }
    },
  };
}

function tokenError(source: string, err: unknown): PyregError {
  if (err instanceof PyregError) return err;
  const msg = redactText(errorMessage(err)).split("\n")[0] ?? "";
  let hint = "check the credentials, or give another source (see the README, Google Artifact Registry)";
  if (/invalid_grant|Invalid JWT|signature/i.test(msg)) {
    hint =
      "the token endpoint rejected the key: it is wrong, deleted or disabled; create a new key for the service account";
  } else if (/ENOENT|no such file/i.test(msg)) {
    hint = "the credentials file does not exist; fix GOOGLE_APPLICATION_CREDENTIALS";
  } else if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|timeout/i.test(msg)) {
    hint = "the token endpoint could not be reached; check the network path to it";
  }
  return new PyregError("AUTH", `could not get a Google access token from ${source}: ${msg}`, {
    hint,
    cause: err,
  });
}

/** `gcloud auth print-access-token`, run without a shell; the token is read from stdout only. */
export function gcloudFetcher(bin: string, env: NodeJS.ProcessEnv): TokenFetcher {
  const source = "gcloud auth print-access-token";
  return {
    source,
    refreshable: true,
    fetch: () =>
      new Promise<Token>((resolve, reject) => {
        const child = spawn(bin, ["auth", "print-access-token"], {
          env: childEnv(env),
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let errText = "";
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (errText += d.toString()));
        child.on("error", (e) => {
          clearTimeout(timer);
          reject(new PyregError("AUTH", `could not run ${bin}: ${errorMessage(e)}`, { cause: e }));
        });
        child.on("close", (code) => {
          clearTimeout(timer);
          const token = out.trim();
          registerSecret(token);
          if (code === 0 && token && !/\s/.test(token)) {
            resolve({ token, lifetimeMs: GCLOUD_ASSUMED_LIFETIME_MS });
          } else {
            const said = redactText(errText).trim().split("\n").slice(-3).join(" ");
            reject(
              new PyregError("AUTH", `${source} failed (exit ${code})${said ? `: ${said}` : ""}`, {
                hint: "run `gcloud auth login` (or `gcloud auth activate-service-account`) and try again",
              }),
            );
          }
        });
      }),
  };
}

function gcloudOnPath(bin: string, env: NodeJS.ProcessEnv): boolean {
  if (bin.includes("/")) return existsSync(bin);
  return (env["PATH"] ?? "").split(":").some((d) => d && existsSync(join(d, bin)));
}

export interface GarCredentials {
  /** For the repository host (Basic). */
  repo: CredentialProvider;
  /** For the REST API (Bearer); built lazily because only --create-repository needs it. */
  api: () => CredentialProvider;
  /** "GOOGLE_ACCESS_TOKEN", "ADC service account key /path (sa@...)", ... */
  source: string;
  /** What to tell the user when the registry answers 401 with these credentials. */
  refusedHint: string;
  /** True when the tokens can be renewed (ADC, gcloud); false for a token the user handed in. */
  refreshable: boolean;
}

/** The well-known ADC file gcloud writes (`gcloud auth application-default login`). */
function wellKnownAdcFile(env: NodeJS.ProcessEnv): string {
  const dir = env["CLOUDSDK_CONFIG"] ?? join(env["HOME"] ?? homedir(), ".config", "gcloud");
  return join(dir, "application_default_credentials.json");
}

function readCredentialsFile(path: string): z.infer<typeof CredentialsFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new PyregError("AUTH", `cannot read the credentials file ${path}: ${errorMessage(err)}`, {
      hint: "GOOGLE_APPLICATION_CREDENTIALS must name a JSON key file (gcloud iam service-accounts keys create)",
      cause: err,
    });
  }
  const f = CredentialsFile.safeParse(parsed);
  if (!f.success) throw new PyregError("AUTH", `${path} is not a Google credentials file (no "type")`);
  return f.data;
}

/** Is ADC configured at all? (google-auth-library says "Could not load the default credentials" otherwise.) */
function noAdc(err: unknown): boolean {
  return /Could not load the default credentials/i.test(errorMessage(err));
}

function fromFetcher(fetcher: TokenFetcher, refusedHint: string, now?: () => number): GarCredentials {
  const cache = new TokenCache(fetcher, now);
  const api = bearerTokenProvider(cache);
  return {
    repo: basicTokenProvider(cache),
    api: () => api,
    source: fetcher.source,
    refusedHint,
    refreshable: fetcher.refreshable,
  };
}

const FRESH_TOKEN = "get a fresh one with `gcloud auth print-access-token` (tokens live about an hour)";

/**
 * Finds GAR credentials in the documented order. ADC and gcloud are probed by fetching a first
 * token, so a broken configuration fails here, naming its source, before any file moves.
 */
export async function resolveGarCredentials(
  url: URL,
  side: Side,
  env: NodeJS.ProcessEnv,
  log: (m: string) => void,
  hints?: CredentialHints,
  now?: () => number,
): Promise<GarCredentials> {
  const basic = resolveBasicCredentials(url, side, env, hints);
  if (basic) {
    if (basic.username === "oauth2accesstoken") {
      return fromFetcher(
        staticTokenFetcher(`the oauth2accesstoken password from ${basic.source}`, basic.password),
        `the access token from ${basic.source} was refused: it has expired or is not valid; ${FRESH_TOKEN}`,
      );
    }
    if (basic.username === "_json_key_base64") {
      const key = decodeJsonKeyBase64(basic.password, basic.source);
      registerSecret(basic.password);
      const source = `service-account key ${key.client_email} (_json_key_base64 from ${basic.source})`;
      const repo: CredentialProvider = {
        source,
        get: () => Promise.resolve({ type: "basic", username: "_json_key_base64", password: basic.password }),
      };
      let api: CredentialProvider | undefined;
      return {
        repo,
        api: () =>
          (api ??= bearerTokenProvider(new TokenCache(googleAuthFetcher(source, { credentials: key }), now))),
        source,
        refusedHint: `Artifact Registry refused the key of ${key.client_email}: it was deleted or disabled, or the account has no access to this repository`,
        refreshable: false,
      };
    }
    log(
      `note: Artifact Registry expects the username oauth2accesstoken or _json_key_base64 (got another from ${basic.source})`,
    );
    registerSecret(basic.password);
    const repo: CredentialProvider = {
      source: basic.source,
      get: () => Promise.resolve({ type: "basic", username: basic.username, password: basic.password }),
    };
    return {
      repo,
      api: () => repo,
      source: basic.source,
      refusedHint:
        "use the username oauth2accesstoken with an access token, or _json_key_base64 with a base64 key file",
      refreshable: false,
    };
  }

  const envToken = env["GOOGLE_ACCESS_TOKEN"];
  if (envToken) {
    return fromFetcher(
      staticTokenFetcher("GOOGLE_ACCESS_TOKEN", envToken),
      `the access token in GOOGLE_ACCESS_TOKEN was refused: it has expired or is not valid; ${FRESH_TOKEN}`,
    );
  }

  // Application Default Credentials, named by what google-auth-library will use.
  const gac = env["GOOGLE_APPLICATION_CREDENTIALS"];
  const wellKnown = wellKnownAdcFile(env);
  let adc: TokenFetcher;
  if (gac) {
    const file = readCredentialsFile(gac);
    if (file.type === "service_account") {
      const key = ServiceAccountKey.safeParse(file);
      if (!key.success)
        throw new PyregError("AUTH", `${gac} is a service-account key without client_email/private_key`);
      registerSecret(key.data.private_key);
      adc = googleAuthFetcher(`ADC service account key ${gac} (${key.data.client_email})`, {
        credentials: key.data,
      });
    } else {
      adc = googleAuthFetcher(`ADC credentials file ${gac} (${file.type})`, {
        keyFilename: gac,
        tokenUri: file.token_uri,
      });
    }
  } else if (existsSync(wellKnown)) {
    const file = readCredentialsFile(wellKnown);
    adc = googleAuthFetcher(`ADC gcloud user credentials ${wellKnown}`, {
      keyFilename: wellKnown,
      tokenUri: file.token_uri,
    });
  } else {
    adc = googleAuthFetcher("ADC metadata server", {});
  }
  const adcCreds = fromFetcher(
    adc,
    `Artifact Registry refused a fresh token from ${adc.source}: the account has no access to this repository, or the token is for another project`,
    now,
  );
  try {
    await adcCreds.repo.get();
    return adcCreds;
  } catch (err) {
    // No ADC at all: go on to gcloud. ADC that exists but fails is reported as it is.
    const cause = err instanceof PyregError && err.cause !== undefined ? err.cause : err;
    if (!(gac === undefined && !existsSync(wellKnown) && noAdc(cause))) throw err;
  }

  const bin = env["PYREG_GCLOUD"] ?? "gcloud";
  if (gcloudOnPath(bin, env)) {
    const creds = fromFetcher(
      gcloudFetcher(bin, env),
      "Artifact Registry refused the token of gcloud's active account: check `gcloud auth list` and the repository's permissions",
      now,
    );
    await creds.repo.get();
    return creds;
  }
  throw new PyregError("AUTH", `no credentials for Google Artifact Registry ${url.host}`, {
    hint:
      "tried: username/password (URL, " +
      (side === "source" ? "PYREG_FROM_*" : "PYREG_TO_*") +
      ", ~/.netrc), GOOGLE_ACCESS_TOKEN, Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, " +
      "gcloud auth application-default login, metadata server), gcloud auth print-access-token",
  });
}
