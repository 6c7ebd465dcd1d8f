/** A throw-away certificate authority and a server certificate for 127.0.0.1, made with openssl. */
import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export interface TestTls {
  /** The CA certificate (PEM file), for --ca-bundle. */
  caFile: string;
  /** The server's key and certificate (PEM), for a TLS server on 127.0.0.1. */
  key: string;
  cert: string;
}

export async function makeTestTls(dir: string): Promise<TestTls> {
  const o = (args: string[]): void => {
    execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  };
  const ca = join(dir, "ca");
  // prettier-ignore
  o(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${ca}.key`, "-out", `${ca}.pem`,
    "-days", "2", "-subj", "/CN=pyreg test CA"]);
  // prettier-ignore
  o(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
    "-subj", "/CN=127.0.0.1"]);
  await writeFile(join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  // prettier-ignore
  o(["x509", "-req", "-in", "server.csr", "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial",
    "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"]);
  return {
    caFile: `${ca}.pem`,
    key: await readFile(join(dir, "server.key"), "utf8"),
    cert: await readFile(join(dir, "server.pem"), "utf8"),
  };
}
