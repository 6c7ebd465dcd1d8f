/**
 * A streamed body that fails before its reader starts (the engine awaits a hasher between opening
 * a file and reading it) must reach the reader as an error, never crash the process with an
 * unhandled 'error' event. Seen in the soak test: a chunked body cut short while a BLAKE2b hasher
 * was being made ended the whole run with "Unhandled 'error' event".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { HttpClient } from "../src/http/client.js";

async function server(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; s: Server }> {
  const s = createServer(handler);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/f`, s };
}

for (const [name, headers] of [
  ["chunked", {}],
  ["gzip", { "content-encoding": "gzip" }],
  ["a Content-Length larger than the body", { "content-length": "100000" }],
] as const) {
  test(`a ${name} body cut short before anyone reads it is an error for its reader, not a crash`, async () => {
    let cut = (): void => undefined;
    const cutDone = new Promise<void>((r) => (cut = r));
    const { url, s } = await server((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", ...headers });
      res.write(Buffer.alloc(100, 1));
      // Then the connection drops mid-body.
      setImmediate(() => {
        res.socket?.destroy();
        cut();
      });
    });
    const client = new HttpClient({ retry: { retries: 0 } });
    try {
      const res = await client.stream(url);
      await cutDone;
      // Nobody reads for a while: the failure happens now, with no reader attached.
      await delay(100);
      await assert.rejects(async () => {
        for await (const chunk of res.body as AsyncIterable<Buffer>) void chunk;
      });
    } finally {
      await client.close();
      s.close();
      s.closeAllConnections();
    }
  });
}
