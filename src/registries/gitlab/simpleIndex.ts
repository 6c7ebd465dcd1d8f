/**
 * GitLab's PyPI simple index, read without following redirects.
 *
 * lib/api/pypi_packages.rb `present_simple_package` answers an unknown name with
 * `redirect_registry_request(forward_to_registry: ...)`: when the instance's "forward PyPI requests"
 * setting is on (the default on self-managed), a name GitLab does not hold is redirected to pypi.org.
 * Followed, that would make pypi.org's files look like GitLab's — as a source (copying foreign files)
 * and, worse, as a destination (skipping uploads because pypi.org has a file of that name). So a
 * redirect here means "GitLab has no such package" (SimpleIndexReader's redirectMeansAbsent).
 */
import type { HttpClient } from "../../http/client.js";
import { SimpleIndexReader, type IndexReaderOptions } from "../simple/index.js";

export class GitLabIndexReader extends SimpleIndexReader {
  constructor(http: HttpClient, indexUrl: string, opts: IndexReaderOptions) {
    super(http, indexUrl, { ...opts, redirectMeansAbsent: true });
  }
}
