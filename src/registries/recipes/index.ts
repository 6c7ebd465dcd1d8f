/**
 * Recipes: registries that speak the plain simple index + legacy upload protocols, recognized by
 * their well-known URL shapes so the user needs no --to-index (each vendor's documented repository URLs).
 * Each recipe knows its upload URL ↔ index URL mapping, its kind name (shown by list/plan) and
 * the text of its "already exists" answer (a hint only: the engine re-reads the index and
 * compares sha256 before deciding skip or conflict).
 *
 * | kind        | upload URL                                         | index URL                     |
 * |-------------|----------------------------------------------------|-------------------------------|
 * | azure       | https://pkgs.dev.azure.com/ORG[/PROJECT]/_packaging/FEED/pypi/upload/ | .../pypi/simple/ |
 * | artifactory | BASE/artifactory/api/pypi/REPO                     | BASE/artifactory/api/pypi/REPO/simple/ |
 * | nexus       | BASE/repository/REPO/                              | BASE/repository/REPO/simple/  |
 * | devpi       | BASE/USER/INDEX/                                   | BASE/USER/INDEX/+simple/      |
 * | pypiserver  | BASE/                                              | BASE/simple/                  |
 *
 * devpi is recognized by its `+simple` segment, or forced with `devpi+https://`; pypiserver has
 * no recognizable shape and is only chosen when forced (`pypiserver+http://host:port/`); without
 * the prefix the generic "simple" kind derives the same URLs.
 */
import { PyregError } from "../../core/errors.js";
import type { Destination, Source } from "../../core/model.js";
import { redactUrl } from "../../http/redact.js";
import { stripCredentials } from "../auth.js";
import {
  SimpleIndexReader,
  SimpleSource,
  UploadDestination,
  credentialPrefix,
  parseToIndex,
  registerBasicCredentials,
} from "../simple/index.js";
import type { RegistryContext, RegistryKind, RegistrySpec } from "../types.js";

export interface RecipeUrls {
  uploadUrl: string;
  indexUrl: string;
}

export interface Recipe {
  name: string;
  title: string;
  help: string;
  /** Recognizes the shape (false for recipes that must be forced). */
  recognize(url: URL): boolean;
  /** Both URLs from either one. Throws USAGE when the URL has not this recipe's shape. */
  urls(url: URL): RecipeUrls;
  existsAnswer: RegExp;
}

function base(url: URL): URL {
  const u = stripCredentials(url);
  u.search = "";
  u.hash = "";
  return u;
}

function notShape(url: URL, title: string, shape: string): PyregError {
  return new PyregError("USAGE", `${redactUrl(url)} does not look like a ${title} URL`, {
    hint: `a ${title} repository URL looks like ${shape}`,
  });
}

// Azure Artifacts: learn.microsoft.com/azure/devops/artifacts/quickstarts/python-cli (twine
// --repository-url .../_packaging/FEED/pypi/upload/, pip --index-url .../pypi/simple/). Project-
// scoped feeds carry the project; feed views are written FEED@VIEW. The legacy host
// ORG.pkgs.visualstudio.com has the same path without the organization.
const AZURE_PATH = /^(\/(?:[^/]+\/){0,2}_packaging\/[^/]+\/pypi)(?:\/(?:upload|simple))?\/?$/;
const azure: Recipe = {
  name: "azure",
  title: "Azure Artifacts",
  help: "https://pkgs.dev.azure.com/ORG[/PROJECT]/_packaging/FEED/pypi/upload/ — Azure Artifacts feed",
  recognize: (url) =>
    /^(pkgs\.dev\.azure\.com|[a-z0-9-]+\.pkgs\.visualstudio\.com)$/i.test(url.hostname) &&
    AZURE_PATH.test(url.pathname),
  urls(url) {
    const u = base(url);
    const m = AZURE_PATH.exec(u.pathname);
    if (!m)
      throw notShape(url, this.title, "https://pkgs.dev.azure.com/ORG/PROJECT/_packaging/FEED/pypi/upload/");
    const root = `${u.protocol}//${u.host}${m[1]}/`;
    return { uploadUrl: root + "upload/", indexUrl: root + "simple/" };
  },
  // Unconfirmed by a public source: Azure answers 409 Conflict naming the existing file.
  existsAnswer: /already contains|already exists|conflict/i,
};

// JFrog Artifactory: BASE/artifactory/api/pypi/REPO for twine, .../REPO/simple for pip
// (jfrog.com/help, PyPI repositories). Cloud instances are *.jfrog.io with the same path.
const ARTIFACTORY_PATH = /^(.*\/api\/pypi\/[^/]+)(?:\/simple)?\/?$/;
const artifactory: Recipe = {
  name: "artifactory",
  title: "JFrog Artifactory",
  help: "https://HOST/artifactory/api/pypi/REPO — JFrog Artifactory PyPI repository",
  recognize: (url) => /\/artifactory\/api\/pypi\/[^/]+(\/simple)?\/?$/.test(url.pathname),
  urls(url) {
    const u = base(url);
    const m = ARTIFACTORY_PATH.exec(u.pathname);
    if (!m) throw notShape(url, this.title, "https://HOST/artifactory/api/pypi/REPO");
    const root = `${u.protocol}//${u.host}${m[1]}`;
    return { uploadUrl: root, indexUrl: root + "/simple/" };
  },
  existsAnswer: /not enough permissions to overwrite|already exists/i,
};

// Sonatype Nexus Repository: BASE/repository/REPO/ for uploads (hosted PyPI repositories),
// BASE/repository/REPO/simple/ for pip (help.sonatype.com, PyPI repositories).
const NEXUS_PATH = /^(.*\/repository\/[^/]+)(?:\/simple)?\/?$/;
const nexus: Recipe = {
  name: "nexus",
  title: "Sonatype Nexus",
  help: "https://HOST/repository/REPO/ — Sonatype Nexus PyPI (hosted) repository",
  recognize: (url) => /^(\/[^/]+)?\/repository\/[^/]+(\/simple)?\/?$/.test(url.pathname),
  urls(url) {
    const u = base(url);
    const m = NEXUS_PATH.exec(u.pathname);
    if (!m) throw notShape(url, this.title, "https://HOST/repository/REPO/");
    const root = `${u.protocol}//${u.host}${m[1]}/`;
    return { uploadUrl: root, indexUrl: root + "simple/" };
  },
  existsAnswer: /does not allow updating assets|cannot be updated|already exists/i,
};

// devpi: BASE/USER/INDEX/ takes uploads, BASE/USER/INDEX/+simple/ is the index (devpi-server
// docs). Any prefix before USER/INDEX (a reverse proxy path) is kept.
const DEVPI_PATH = /^(.*\/[^/+]+\/[^/+]+)(?:\/\+simple)?\/?$/;
const devpi: Recipe = {
  name: "devpi",
  title: "devpi",
  help: "https://HOST/USER/INDEX/ — devpi index (recognized by +simple, or forced with devpi+https://)",
  recognize: (url) => /\/[^/+]+\/[^/+]+\/\+simple\/?$/.test(url.pathname),
  urls(url) {
    const u = base(url);
    const m = DEVPI_PATH.exec(u.pathname);
    if (!m) throw notShape(url, this.title, "https://HOST/USER/INDEX/");
    const root = `${u.protocol}//${u.host}${m[1]}/`;
    return { uploadUrl: root, indexUrl: root + "+simple/" };
  },
  // Identical bytes: 200 "Upload of identical file"; other bytes: 409 (non-volatile index). A
  // volatile index (the default) silently replaces: pyreg never uploads a filename the index has.
  existsAnswer: /identical file|already exists|not allowed|volatile/i,
};

// pypiserver: BASE/ takes uploads, BASE/simple/ is the index; 409 on an existing file (400 when
// the user agent says twine), "... already exists" (pypiserver _app.py).
const pypiserver: Recipe = {
  name: "pypiserver",
  title: "pypiserver",
  help: "pypiserver+http://HOST:PORT/ — pypiserver (only when forced; the generic kind works too)",
  recognize: () => false,
  urls(url) {
    const u = base(url);
    const root = u.toString().replace(/\/?(simple\/?)?$/, "/");
    return { uploadUrl: root, indexUrl: root + "simple/" };
  },
  existsAnswer: /already exists/i,
};

export const RECIPES: readonly Recipe[] = [azure, artifactory, nexus, devpi, pypiserver];

/** The recipe whose shape a URL has, if any (used for recognition and for tests). */
export function recognizeRecipe(url: URL): Recipe | undefined {
  return RECIPES.find((r) => r.recognize(url));
}

function recipeKind(recipe: Recipe): RegistryKind {
  return {
    name: recipe.name,
    help: recipe.help,
    matches: (spec) => spec.url !== undefined && recipe.recognize(spec.url),
    async openSource(spec: RegistrySpec, ctx: RegistryContext): Promise<Source> {
      const url = spec.url;
      if (!url) throw new PyregError("USAGE", `${spec.display} is not a URL`);
      const { uploadUrl, indexUrl } = recipe.urls(url);
      const index = ctx.options.fromIndex ?? indexUrl;
      registerBasicCredentials(url, ctx, credentialPrefix(new URL(uploadUrl)));
      if (!new URL(index).href.startsWith(uploadUrl)) registerBasicCredentials(new URL(index), ctx);
      const reader = new SimpleIndexReader(ctx.http, index, {
        label: `source (${recipe.title})`,
        warn: ctx.log,
        allowForeignFileHosts: ctx.options.allowForeignFileHosts,
      });
      return new SimpleSource(reader, recipe.name);
    },
    async openDestination(spec: RegistrySpec, ctx: RegistryContext): Promise<Destination> {
      const url = spec.url;
      if (!url) throw new PyregError("USAGE", `${spec.display} is not a URL`);
      const derived = recipe.urls(url);
      const given = ctx.options.toIndex ? parseToIndex(ctx.options.toIndex) : undefined;
      const indexUrl = given ? stripCredentials(given).toString() : derived.indexUrl;
      registerBasicCredentials(url, ctx, credentialPrefix(new URL(derived.uploadUrl)));
      if (given && (given.username || given.password)) {
        // --to-index's own credentials: for the index, and for the upload when --to has none.
        registerBasicCredentials(given, ctx);
        if (!url.username && !url.password)
          registerBasicCredentials(given, ctx, credentialPrefix(new URL(derived.uploadUrl)));
      } else if (!new URL(indexUrl).href.startsWith(derived.uploadUrl))
        registerBasicCredentials(new URL(indexUrl), ctx);
      const reader = new SimpleIndexReader(ctx.http, indexUrl, {
        label: `destination index (${recipe.title})`,
        warn: ctx.log,
      });
      return new UploadDestination(ctx.http, derived.uploadUrl, reader, {
        kind: recipe.name,
        label: `destination (${recipe.title})`,
        existsAnswer: recipe.existsAnswer,
      });
    },
  };
}

export const azureKind = recipeKind(azure);
export const artifactoryKind = recipeKind(artifactory);
export const nexusKind = recipeKind(nexus);
export const devpiKind = recipeKind(devpi);
export const pypiserverKind = recipeKind(pypiserver);

/** In recognition order; spread into KINDS before the generic kind. */
export const recipeKinds: readonly RegistryKind[] = [
  azureKind,
  artifactoryKind,
  nexusKind,
  devpiKind,
  pypiserverKind,
];
