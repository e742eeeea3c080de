/**
 * Development certificates with the system `openssl`: a CA, and one certificate per node id
 * (subject CN = the id, usable as TLS server and client). For development clusters and tests
 * only — a real deployment brings its own PKI. Private keys are written 0600.
 */
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidArgument } from "../errors.ts";

export interface DevCertificate {
  readonly id: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export interface DevPki {
  readonly caCertPath: string;
  readonly caKeyPath: string;
  readonly certificates: readonly DevCertificate[];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error);
    throw new Error(`openssl ${args[0]} failed: ${stderr.slice(0, 300)}`);
  }
}

/** Creates (or reuses) `dir/ca.{crt,key}` and issues `dir/<id>.{crt,key}` for each id that has none. */
export function createDevPki(dir: string, ids: readonly string[], opts: { days?: number; caName?: string } = {}): DevPki {
  for (const id of ids) if (!ID.test(id)) throw new InvalidArgument("id", `"${id}" is not a node id ([A-Za-z0-9._-], at most 64)`);
  mkdirSync(dir, { recursive: true });
  const days = String(opts.days ?? 825);
  const caCertPath = join(dir, "ca.crt");
  const caKeyPath = join(dir, "ca.key");
  if (!existsSync(caCertPath) || !existsSync(caKeyPath)) {
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKeyPath, "-out", caCertPath,
      "-days", days, "-subj", `/CN=${opts.caName ?? "fedrouter dev CA"}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    chmodSync(caKeyPath, 0o600);
  }
  const certificates = ids.map((id) => {
    const certPath = join(dir, `${id}.crt`);
    const keyPath = join(dir, `${id}.key`);
    if (!existsSync(certPath) || !existsSync(keyPath)) {
      const csrPath = join(dir, `${id}.csr`);
      const extPath = join(dir, `${id}.ext`);
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath, "-out", csrPath, "-subj", `/CN=${id}`]);
      chmodSync(keyPath, 0o600);
      writeFileSync(extPath, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:${id},DNS:localhost,IP:127.0.0.1,IP:::1\n`);
      openssl(["x509", "-req", "-in", csrPath, "-CA", caCertPath, "-CAkey", caKeyPath, "-CAcreateserial", "-out", certPath, "-days", days, "-extfile", extPath]);
      rmSync(csrPath);
      rmSync(extPath);
    }
    return { id, certPath, keyPath };
  });
  return { caCertPath, caKeyPath, certificates };
}

/**
 * The PEMs a node needs for mutual TLS, checked: a file that is not a PEM certificate (or key),
 * or a key that is not the certificate's, is named here, with the field, instead of surfacing as
 * an OpenSSL error ("PEM routines::no start line") when the transport starts.
 */
export function readTlsFiles(caCertPath: string, certPath: string, keyPath: string): { kind: "mtls"; caPem: Buffer; certPem: Buffer; keyPem: Buffer } {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch {
      throw new InvalidArgument(what, `cannot read ${path} (run \`fedrouter keys init\` to create development certificates)`);
    }
  };
  const parse = <T>(what: string, path: string, kind: string, from: () => T): T => {
    try {
      return from();
    } catch (error) {
      throw new InvalidArgument(what, `${path} is not ${kind} (${error instanceof Error ? error.message : String(error)})`);
    }
  };
  const caPem = read("tls.ca", caCertPath);
  const certPem = read("tls.cert", certPath);
  const keyPem = read("tls.key", keyPath);
  parse("tls.ca", caCertPath, "a PEM certificate", () => new X509Certificate(caPem));
  const cert = parse("tls.cert", certPath, "a PEM certificate", () => new X509Certificate(certPem));
  const key = parse("tls.key", keyPath, "an unencrypted PEM private key", () => createPrivateKey(keyPem));
  if (!cert.checkPrivateKey(key)) throw new InvalidArgument("tls.key", `${keyPath} is not the private key of ${certPath}; give the key the certificate was issued for`);
  return { kind: "mtls", caPem, certPem, keyPem };
}
