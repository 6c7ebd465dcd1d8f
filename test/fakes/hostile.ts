/**
 * A hostile or broken index server for tests: every path answers exactly what the test
 * put there (any status, headers, bytes, redirects), so pages can carry unsafe filenames, foreign
 * file URLs, wrong hashes, malformed HTML/JSON, unknown API versions or compressed bombs. It
 * records each request with its Authorization header, to prove where credentials went.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface HostileAnswer {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
}

export interface HostileServer {
  url: string;
  seen: SeenRequest[];
  /** Sets the answer for a path (exact match, without query). */
  set(path: string, answer: HostileAnswer | ((req: IncomingMessage, res: ServerResponse) => void)): void;
  close(): Promise<void>;
}

export async function startHostile(): Promise<HostileServer> {
  const routes = new Map<string, HostileAnswer | ((req: IncomingMessage, res: ServerResponse) => void)>();
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] as string;
    seen.push({ method: req.method ?? "GET", path, authorization: req.headers.authorization });
    req.resume();
    const route = routes.get(path);
    if (!route) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not here\n");
      return;
    }
    if (typeof route === "function") {
      route(req, res);
      return;
    }
    const body = route.body ?? "";
    res.writeHead(route.status ?? 200, {
      "content-length": String(Buffer.byteLength(body)),
      ...route.headers,
    });
    res.end(body);
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    seen,
    set: (path, answer) => routes.set(path, answer),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A PEP 691 JSON project page. */
export function jsonPage(
  name: string,
  files: { filename: string; url: string; sha256: string; size?: number }[],
  apiVersion = "1.1",
): HostileAnswer {
  return {
    headers: { "content-type": "application/vnd.pypi.simple.v1+json" },
    body: JSON.stringify({
      meta: { "api-version": apiVersion },
      name,
      files: files.map((f) => ({
        filename: f.filename,
        url: f.url,
        hashes: { sha256: f.sha256 },
        ...(f.size !== undefined ? { size: f.size } : {}),
      })),
    }),
  };
}

/** A PEP 691 JSON project list. */
export function jsonList(names: string[], apiVersion = "1.1"): HostileAnswer {
  return {
    headers: { "content-type": "application/vnd.pypi.simple.v1+json" },
    body: JSON.stringify({ meta: { "api-version": apiVersion }, projects: names.map((name) => ({ name })) }),
  };
}
