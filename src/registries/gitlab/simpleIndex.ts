/**
 * GitLab's PyPI simple index, read without following redirects.
 *
 * lib/api/pypi_packages.rb `present_simple_package` answers an unknown name with
 * `redirect_registry_request(forward_to_registry: ...)`: when the instance's "forward PyPI requests"
 * setting is on (the default on self-managed), a name GitLab does not hold is redirected to pypi.org.
 * Followed, that would make pypi.org's files look like GitLab's — as a source (copying foreign files)
 * and, worse, as a destination (skipping uploads because pypi.org has a file of that name). So a
 * redirect here means "GitLab has no such package".
 */
import { PyregError } from "../../core/errors.js";
import { normalizeName } from "../../core/names.js";
import { redactUrl } from "../../http/redact.js";
import { SimpleIndexReader, withSlash } from "../simple/index.js";
import {
  ACCEPT_SIMPLE,
  isJsonContentType,
  parseProjectListHtml,
  parseProjectListJson,
  parseProjectPageHtml,
  parseProjectPageJson,
  type ParsedProjectPage,
} from "../simple/parse.js";

export class GitLabIndexReader extends SimpleIndexReader {
  override async listProjects(): Promise<string[]> {
    const res = await this.http.fetch(this.indexUrl, {
      headers: { accept: ACCEPT_SIMPLE },
      label: this.opts.label,
      followRedirects: false,
      accept: (s) => s < 300,
    });
    const text = res.text();
    return isJsonContentType(res.headers["content-type"])
      ? parseProjectListJson(text, res.url, this.opts.warn)
      : parseProjectListHtml(text, res.url, this.opts.warn);
  }

  override async projectPage(project: string): Promise<ParsedProjectPage> {
    const url = new URL(
      encodeURIComponent(normalizeName(project)) + "/",
      withSlash(this.indexUrl),
    ).toString();
    const res = await this.http.fetch(url, {
      headers: { accept: ACCEPT_SIMPLE },
      label: this.opts.label,
      followRedirects: false,
      accept: (s) => s < 300 || s === 404 || (s >= 300 && s < 400),
    });
    if (res.status === 404) return { apiVersion: "1.0", files: [] };
    if (res.status >= 300) {
      this.opts.warn?.(
        `GitLab redirected ${redactUrl(url)} to ${redactUrl(res.headers["location"] ?? "?")} (package forwarding): GitLab itself holds no ${normalizeName(project)}`,
      );
      return { apiVersion: "1.0", files: [] };
    }
    const text = res.text();
    if (!text.trim())
      throw new PyregError("MALFORMED_INDEX", `empty project page at ${redactUrl(url)}`, {
        url: redactUrl(url),
      });
    return isJsonContentType(res.headers["content-type"])
      ? parseProjectPageJson(text, res.url, normalizeName(project), this.opts.warn)
      : parseProjectPageHtml(text, res.url, normalizeName(project), this.opts.warn);
  }
}
