/**
 * A PEP 691 JSON index made on request, with nothing on disk, for tests of pyreg at scale: the
 * source's index at /simple/ and a destination's at /dst/simple/, each listing every project, and
 * each project's page made by the test from the project's number and the side asked for
 * (https://peps.python.org/pep-0691/).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export type IndexSide = "simple" | "dst/simple";

/** What a project's page lists: its files (PEP 691 file objects), and PEP 700 versions when given. */
export interface GeneratedPage {
  files: Record<string, unknown>[];
  versions?: string[];
}

export function startGeneratedIndex(o: {
  projects: number;
  projectName(p: number): string;
  page(p: number, side: IndexSide): GeneratedPage;
}): Promise<{ url: string; server: Server }> {
  const numbers = new Map(Array.from({ length: o.projects }, (_, p) => [o.projectName(p), p]));
  const meta = { "api-version": "1.1" };
  const server = createServer((req, res) => {
    req.resume();
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const send = (value: unknown): void => {
      const body = Buffer.from(JSON.stringify(value));
      res
        .writeHead(200, {
          "content-type": "application/vnd.pypi.simple.v1+json",
          "content-length": body.length,
        })
        .end(body);
    };
    if (path === "/simple/" || path === "/dst/simple/") {
      send({ meta, projects: Array.from({ length: o.projects }, (_, p) => ({ name: o.projectName(p) })) });
      return;
    }
    const m = /^\/(simple|dst\/simple)\/([^/]+)\/$/.exec(path);
    const p = m ? numbers.get(m[2]!) : undefined;
    if (!m || p === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    send({ meta, name: o.projectName(p), ...o.page(p, m[1] as IndexSide) });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server }),
    ),
  );
}
