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
  /** What this call did: issued one where there was none, kept a good one, or reissued one it could not keep. */
  readonly action: "issued" | "kept" | "reissued";
  /** Why it was reissued (another CA's, a key that is not its own, expired, unreadable). */
  readonly why?: string;
}

export interface DevPki {
  readonly caCertPath: string;
  readonly caKeyPath: string;
  /** Whether this call created the CA (none was there, or only half of one). */
  readonly caCreated: boolean;
  readonly certificates: readonly DevCertificate[];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Runs the system openssl; a failure is an InvalidArgument("openssl", …) with its stderr. */
function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new InvalidArgument("openssl", "not found on PATH: development certificates are made with the system openssl (e.g. apt-get install openssl)");
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error);
    throw new InvalidArgument("openssl", `openssl ${args[0]} failed: ${stderr.slice(0, 300)}`);
  }
}

/**
 * Creates (or reuses) `dir/ca.{crt,key}` and issues `dir/<id>.{crt,key}` for each id, keeping a
 * certificate that is already there only when the CA issued it, its key is its own and it has not
 * expired: otherwise the set would not hold together (after a lost ca.key a new CA would sit beside
 * certificates of the old one, and every node would refuse every other) — such a certificate is
 * reissued and `action` says why. A CA whose two files are not a pair is refused, not replaced.
 * Every failure (a directory that cannot be made, no openssl) is an InvalidArgument.
 * @example
 * createDevPki("keys", ["node-a", "node-b"]).certificates.map((c) => c.action); // ["issued", "issued"]
 */
export function createDevPki(dir: string, ids: readonly string[], opts: { days?: number; caName?: string } = {}): DevPki {
  for (const id of ids) if (!ID.test(id)) throw new InvalidArgument("id", `"${id}" is not a node id ([A-Za-z0-9._-], at most 64)`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new InvalidArgument("dir", `cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const days = String(opts.days ?? 825);
  const caCertPath = join(dir, "ca.crt");
  const caKeyPath = join(dir, "ca.key");
  const caCreated = !existsSync(caCertPath) || !existsSync(caKeyPath);
  if (caCreated) {
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKeyPath, "-out", caCertPath,
      "-days", days, "-subj", `/CN=${opts.caName ?? "fedrouter dev CA"}`, "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    chmodSync(caKeyPath, 0o600);
  }
  const caProblem = pairProblem(caCertPath, caCertPath, caKeyPath);
  if (caProblem !== undefined) throw new InvalidArgument("dir", `${caCertPath} and ${caKeyPath} cannot sign certificates (${caProblem}); remove both to create a new development CA`);
  const ca = new X509Certificate(readFileSync(caCertPath));
  const certificates = ids.map((id): DevCertificate => {
    const certPath = join(dir, `${id}.crt`);
    const keyPath = join(dir, `${id}.key`);
    const exists = existsSync(certPath) && existsSync(keyPath);
    const why = exists ? whyNotKept(certPath, keyPath, ca, caCertPath) : undefined;
    if (exists && why === undefined) return { id, certPath, keyPath, action: "kept" };
    const csrPath = join(dir, `${id}.csr`);
    const extPath = join(dir, `${id}.ext`);
    openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath, "-out", csrPath, "-subj", `/CN=${id}`]);
    chmodSync(keyPath, 0o600);
    writeFileSync(extPath, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:${id},DNS:localhost,IP:127.0.0.1,IP:::1\n`);
    openssl(["x509", "-req", "-in", csrPath, "-CA", caCertPath, "-CAkey", caKeyPath, "-CAcreateserial", "-out", certPath, "-days", days, "-extfile", extPath]);
    rmSync(csrPath);
    rmSync(extPath);
    return exists ? { id, certPath, keyPath, action: "reissued", why: why! } : { id, certPath, keyPath, action: "issued" };
  });
  return { caCertPath, caKeyPath, caCreated, certificates };
}

/** Why the certificate at `certPath` cannot be kept under `ca` (read from `caCertPath`); undefined when it can. */
function whyNotKept(certPath: string, keyPath: string, ca: X509Certificate, caCertPath: string): string | undefined {
  const problem = pairProblem(caCertPath, certPath, keyPath);
  if (problem !== undefined) return problem;
  const cert = new X509Certificate(readFileSync(certPath));
  if (!cert.verify(ca.publicKey)) return `${certPath} was not issued by this directory's CA (${caCertPath})`;
  if (Date.parse(cert.validTo) <= Date.now()) return `${certPath} expired on ${cert.validTo}`;
  return undefined;
}

/** What readTlsFiles finds wrong with the certificate and its key (not PEM, not a pair), or undefined. */
function pairProblem(caCertPath: string, certPath: string, keyPath: string): string | undefined {
  try {
    readTlsFiles(caCertPath, certPath, keyPath);
    return undefined;
  } catch (error) {
    if (error instanceof InvalidArgument) return error.reason;
    throw error;
  }
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
