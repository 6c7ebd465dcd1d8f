/**
 * AWS CodeArtifact (PyPI format) as destination and source (AWS CodeArtifact's "Configure and use pip/twine" docs).
 *
 * - `https://DOMAIN-OWNER.d.codeartifact.REGION.amazonaws.com/pypi/REPO/` is recognized by host;
 *   `codeartifact+http(s)://...` forces the kind. Upload URL = repository URL, index = + `simple/`.
 * - Credentials, in this order: a configured username/password (URL, PYREG_TO_* / PYREG_FROM_*,
 *   ~/.netrc: `aws` + a token from `aws codeartifact get-authorization-token`); otherwise a token
 *   from GetAuthorizationToken (POST /v1/authorization-token?domain=&domain-owner=) through
 *   @aws-sdk/client-codeartifact and the SDK's default credential chain (environment, shared
 *   profiles, SSO, web identity, container and instance roles). Tokens last up to 12 hours
 *   (durationSeconds, AWS API reference) and are renewed before they expire and after a 401.
 *   They are sent as Basic `aws` + token.
 * - GetRepositoryEndpoint (GET /v1/repository/endpoint?format=pypi) confirms the URL when the
 *   caller may call it; a difference is reported, a refusal is only a note.
 * - Duplicate answer (AWS CodeArtifact User Guide, "Overwriting package assets",
 *   https://docs.aws.amazon.com/codeartifact/latest/ug/packages-overview.html): other content
 *   under an existing asset name is "an HTTP 409 conflict error"; identical content "will succeed
 *   because the operation is idempotent". A 409 is read as "exists" and the engine checks the
 *   index and digest.
 *
 * Test/advanced settings: PYREG_CODEARTIFACT_ENDPOINT (the API endpoint; the SDK itself also
 * honours AWS_ENDPOINT_URL_CODEARTIFACT and AWS_ENDPOINT_URL, see @smithy/core
 * getEndpointUrlConfig), and for a forced URL whose host does not carry them:
 * PYREG_CODEARTIFACT_DOMAIN, PYREG_CODEARTIFACT_DOMAIN_OWNER, PYREG_CODEARTIFACT_REGION.
 */
// The AWS SDK is loaded only when a CodeArtifact registry is used (it adds about 0.3 s and 10 MB
// of heap to every start, which every garbage collection then walks).
import type { CodeartifactClient } from "@aws-sdk/client-codeartifact";
import { PyregError, errorMessage } from "../../core/errors.js";
import type { CredentialProvider } from "../../http/credentials.js";
import { redactText, redactUrl, registerSecret } from "../../http/redact.js";
import { basicProvider, resolveBasicCredentials, stripCredentials } from "../auth.js";
import { TokenCache, type TokenFetcher } from "../gar/auth.js";
import { SimpleIndexReader, SimpleSource, UploadDestination } from "../simple/index.js";
import type { RegistryContext, RegistryKind, RegistrySpec } from "../types.js";

export const CODEARTIFACT_HOST = /^(.+)-(\d{12})\.d\.codeartifact\.([a-z0-9-]+)\.amazonaws\.com$/i;

export interface CodeArtifactRepository {
  repoUrl: string;
  indexUrl: string;
  domain: string | undefined;
  domainOwner: string | undefined;
  region: string | undefined;
  repository: string;
}

export function parseCodeArtifactUrl(url: URL, env: NodeJS.ProcessEnv = {}): CodeArtifactRepository {
  const clean = stripCredentials(url);
  const parts = clean.pathname.split("/").filter(Boolean);
  if (parts[parts.length - 1] === "simple") parts.pop();
  if (parts.length !== 2 || parts[0] !== "pypi") {
    throw new PyregError("USAGE", `${redactUrl(url)} is not a CodeArtifact PyPI repository URL`, {
      hint: "write it as https://DOMAIN-OWNER.d.codeartifact.REGION.amazonaws.com/pypi/REPOSITORY/",
    });
  }
  const m = CODEARTIFACT_HOST.exec(clean.hostname);
  const base = `${clean.protocol}//${clean.host}/pypi/${parts[1]}/`;
  return {
    repoUrl: base,
    indexUrl: base + "simple/",
    domain: m?.[1] ?? env["PYREG_CODEARTIFACT_DOMAIN"],
    domainOwner: m?.[2] ?? env["PYREG_CODEARTIFACT_DOMAIN_OWNER"],
    region: m?.[3] ?? env["PYREG_CODEARTIFACT_REGION"] ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"],
    repository: decodeURIComponent(parts[1] as string),
  };
}

/** Which part of the AWS default chain is likely in use, for messages. */
export function awsCredentialSource(env: NodeJS.ProcessEnv): string {
  if (env["AWS_ACCESS_KEY_ID"]) return "AWS credentials from AWS_ACCESS_KEY_ID";
  if (env["AWS_PROFILE"]) return `AWS profile ${env["AWS_PROFILE"]}`;
  if (env["AWS_WEB_IDENTITY_TOKEN_FILE"]) return "AWS web identity token";
  return "the AWS default credential chain";
}

const sdk = (): Promise<typeof import("@aws-sdk/client-codeartifact")> =>
  import("@aws-sdk/client-codeartifact");

/**
 * The SDK warns once per process, through process.emitWarning, that its releases after January
 * 2027 will need Node.js 22 (an 8-line message on Node.js 20, which pyreg supports). AWS documents
 * AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true to turn it off
 * (https://github.com/aws/aws-sdk-js-v3/issues/7983); the SDK reads it when a client is created.
 * It is set for that moment only, unless the user set it, so nothing else in the process changes.
 */
const NODE_VERSION_WARNING = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";

async function client(repo: CodeArtifactRepository, env: NodeJS.ProcessEnv): Promise<CodeartifactClient> {
  const endpoint = env["PYREG_CODEARTIFACT_ENDPOINT"];
  const { CodeartifactClient } = await sdk();
  const given = process.env[NODE_VERSION_WARNING];
  if (given === undefined) process.env[NODE_VERSION_WARNING] = "true";
  try {
    return new CodeartifactClient({
      ...(repo.region ? { region: repo.region } : {}),
      ...(endpoint ? { endpoint } : {}),
    });
  } finally {
    if (given === undefined) delete process.env[NODE_VERSION_WARNING];
  }
}

function awsError(what: string, source: string, err: unknown): PyregError {
  const name = err instanceof Error ? err.name : "";
  const msg = redactText(errorMessage(err)).split("\n")[0] ?? "";
  let hint =
    "check the AWS credentials (aws sts get-caller-identity) and the domain, owner and region in the URL";
  if (/CredentialsProviderError|Could not load credentials/i.test(name + " " + msg)) {
    hint =
      "configure AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, aws sso login, or an instance role)";
  } else if (/AccessDenied|UnrecognizedClient|InvalidSignature|ExpiredToken/i.test(name + " " + msg)) {
    hint =
      "the AWS identity needs codeartifact:GetAuthorizationToken and sts:GetServiceBearerToken; an expired session needs a new login";
  }
  return new PyregError(
    "AUTH",
    `CodeArtifact ${what} failed with ${source}: ${name ? name + ": " : ""}${msg}`,
    {
      hint,
      cause: err,
    },
  );
}

export function authorizationTokenFetcher(
  repo: CodeArtifactRepository,
  env: NodeJS.ProcessEnv,
): TokenFetcher {
  const source = `CodeArtifact GetAuthorizationToken (${awsCredentialSource(env)})`;
  let c: CodeartifactClient | undefined;
  const durationSeconds = env["PYREG_CODEARTIFACT_TOKEN_DURATION"];
  return {
    source,
    refreshable: true,
    async fetch() {
      if (!repo.domain || !repo.region) {
        throw new PyregError("USAGE", `cannot tell the CodeArtifact domain and region from ${repo.repoUrl}`, {
          hint: "use the https://DOMAIN-OWNER.d.codeartifact.REGION.amazonaws.com/pypi/REPO/ URL, or set PYREG_CODEARTIFACT_DOMAIN/_DOMAIN_OWNER/_REGION",
        });
      }
      try {
        c ??= await client(repo, env);
        const { GetAuthorizationTokenCommand } = await sdk();
        const out = await c.send(
          new GetAuthorizationTokenCommand({
            domain: repo.domain,
            ...(repo.domainOwner ? { domainOwner: repo.domainOwner } : {}),
            ...(durationSeconds ? { durationSeconds: Number(durationSeconds) } : {}),
          }),
        );
        if (!out.authorizationToken) throw new Error("the answer has no authorizationToken");
        registerSecret(out.authorizationToken);
        return { token: out.authorizationToken, expiresAt: out.expiration?.getTime() };
      } catch (err) {
        throw awsError("GetAuthorizationToken", awsCredentialSource(env), err);
      }
    },
  };
}

async function confirmEndpoint(repo: CodeArtifactRepository, ctx: RegistryContext): Promise<void> {
  if (!repo.domain || !repo.region) return;
  try {
    const { GetRepositoryEndpointCommand } = await sdk();
    const out = await (
      await client(repo, ctx.env)
    ).send(
      new GetRepositoryEndpointCommand({
        domain: repo.domain,
        ...(repo.domainOwner ? { domainOwner: repo.domainOwner } : {}),
        repository: repo.repository,
        format: "pypi",
      }),
    );
    const said = out.repositoryEndpoint;
    if (said && new URL(said).toString().replace(/\/?$/, "/") !== repo.repoUrl) {
      ctx.log(
        `note: CodeArtifact says the repository endpoint is ${redactUrl(said)}, not ${redactUrl(repo.repoUrl)}`,
      );
    }
  } catch (err) {
    ctx.log(
      `note: could not confirm the CodeArtifact endpoint (${redactText(errorMessage(err)).split("\n")[0]})`,
    );
  }
}

async function setUp(
  spec: RegistrySpec,
  ctx: RegistryContext,
): Promise<{ repo: CodeArtifactRepository; source: string }> {
  const url = spec.url;
  if (!url) throw new PyregError("USAGE", `${spec.display} is not a URL`);
  const repo = parseCodeArtifactUrl(url, ctx.env);
  const basic = resolveBasicCredentials(url, ctx.side, ctx.env, ctx.credentials);
  let provider: CredentialProvider;
  if (basic) {
    provider = basicProvider({ ...basic, username: basic.username === "__token__" ? "aws" : basic.username });
  } else {
    const cache = new TokenCache(authorizationTokenFetcher(repo, ctx.env), ctx.now);
    provider = {
      get source() {
        return cache.source;
      },
      get: async () => ({ type: "basic", username: "aws", password: await cache.token() }),
      refresh: () => cache.refresh(),
    };
    await provider.get(); // fail early, naming the credential source
    await confirmEndpoint(repo, ctx);
  }
  ctx.http.credentials.add(repo.repoUrl, provider);
  return { repo, source: provider.source };
}

export const codeartifactKind: RegistryKind = {
  name: "codeartifact",
  help: "https://DOMAIN-OWNER.d.codeartifact.REGION.amazonaws.com/pypi/REPO/ — AWS CodeArtifact (codeartifact+https:// forces it)",
  matches: (spec) => spec.url !== undefined && CODEARTIFACT_HOST.test(spec.url.hostname),
  async openSource(spec, ctx) {
    const { repo } = await setUp(spec, ctx);
    const reader = new SimpleIndexReader(ctx.http, repo.indexUrl, {
      label: "source (CodeArtifact)",
      warn: ctx.log,
      allowForeignFileHosts: ctx.options.allowForeignFileHosts,
    });
    return new SimpleSource(reader, "codeartifact");
  },
  async openDestination(spec, ctx) {
    const { repo } = await setUp(spec, ctx);
    const reader = new SimpleIndexReader(ctx.http, repo.indexUrl, {
      label: "destination index (CodeArtifact)",
      warn: ctx.log,
    });
    return new UploadDestination(ctx.http, repo.repoUrl, reader, {
      kind: "codeartifact",
      label: "destination (CodeArtifact)",
      existsAnswer: /already exists|conflict/i,
      // Its simple index links hosted files with `#sha512=`
      // (https://github.com/bazel-contrib/rules_python/issues/3972): computed while each file
      // streams, so that uploads are confirmed from the index without reading them back.
      indexDigests: ["sha512"],
    });
  },
};
