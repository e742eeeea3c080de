/**
 * The cluster config as a container reads it: every file at the image's mount points (the
 * Dockerfile declares the same paths; test/cluster/deploy.test.ts holds them equal), every node
 * bound to 0.0.0.0 and reached at the address the deployment gives it. Pure: config in, config
 * out. Never invents a secret: certificates and the token secret stay the operator's, mounted.
 */
import { basename } from "node:path";
import { ConfigError, type ClusterConfig, type ClusterInput, type HospitalConfig } from "./config.ts";

/** Where the image expects its files (the Dockerfile's ENV and VOLUME lines say the same). */
export const CONTAINER_PATHS = {
  /** The cluster config (a mounted ConfigMap key, or a bind-mounted file). JSON: a .ts file outside /app cannot import "fedrouter/cluster". */
  config: "/etc/fedrouter/cluster.config.json",
  /** The node's LMDB environment: a volume (a PVC per hospital in Kubernetes). */
  dataDir: "/var/lib/fedrouter",
  /** Model directories, on the same volume as the data: `models/<name>` of the config becomes `<dataDir>/models/<name>`. */
  modelsDir: "/var/lib/fedrouter/models",
  /** The hospital's certificate, key and the federation CA (a mounted Secret: tls.crt, tls.key, ca.crt). */
  tlsDir: "/etc/fedrouter/tls",
  /** On the front-door hospital: the user store and the token secret (a mounted Secret: users.json, token-secret). */
  httpDir: "/etc/fedrouter/http",
  /** A trainer's CKKS files (a mounted Secret: federation.bundle, key.share, signing.key), where its config names any. */
  ckksDir: "/etc/fedrouter/ckks",
} as const;

/** The file names inside the mounted Secrets: a `kubernetes.io/tls` Secret's keys plus the CA. */
export const TLS_FILES = { ca: "ca.crt", cert: "tls.crt", key: "tls.key" } as const;
export const HTTP_FILES = { users: "users.json", secret: "token-secret" } as const;
/** The file names inside a hospital's CKKS Secret: the federation's public bundle and its own key share. */
export const CKKS_FILES = { bundle: "federation.bundle", share: "key.share", signing: "signing.key" } as const;

/** Where one hospital is reached by the others and by operators. */
export interface NodeAddresses {
  readonly transport: string;
  readonly admin: string;
}

/**
 * The config every container of the federation mounts: `address`/`admin` are where the others
 * reach each node (`addressOf`), `listenHost` 0.0.0.0 is where it binds, and every path is a
 * mount point of CONTAINER_PATHS. The ports stay the config's. Throws ConfigError for what a
 * container cannot run: plaintext transport, or an actor module outside the image.
 *
 * ```ts
 * const config = containerConfig(cluster, (h) => ({ transport: `${h.id}.example.org:7101`, admin: `${h.id}.example.org:7201` }));
 * // config.hospitals[0].dataDir === "/var/lib/fedrouter"
 * ```
 */
export function containerConfig(cluster: ClusterConfig, addressOf: (hospital: HospitalConfig) => NodeAddresses): ClusterInput {
  refuseUndeployable(cluster);
  const tls = (file: string) => `${CONTAINER_PATHS.tlsDir}/${file}`;
  return {
    name: cluster.name,
    tls: { ca: tls(TLS_FILES.ca), operators: [...cluster.tls.operators], insecure: false },
    hospitals: cluster.hospitals.map((h) => {
      const at = addressOf(h);
      return {
        id: h.id,
        region: h.region,
        ...(h.weight === undefined ? {} : { weight: h.weight }),
        address: at.transport,
        admin: at.admin,
        listenHost: "0.0.0.0",
        cert: tls(TLS_FILES.cert),
        key: tls(TLS_FILES.key),
        dataDir: CONTAINER_PATHS.dataDir,
        actors: h.actors.map((a) => ({
          ...a,
          ...(a.model === undefined ? {} : { model: containerModelDir(a.model) }),
          ...(a.ckks === undefined ? {} : {
            ckks: {
              bundle: `${CONTAINER_PATHS.ckksDir}/${CKKS_FILES.bundle}`,
              ...(a.ckks.share === undefined ? {} : { share: `${CONTAINER_PATHS.ckksDir}/${CKKS_FILES.share}` }),
              ...(a.ckks.signing === undefined ? {} : { signing: `${CONTAINER_PATHS.ckksDir}/${CKKS_FILES.signing}` }),
            },
          }),
        })),
      };
    }),
    privacy: { ...cluster.privacy, departments: { ...cluster.privacy.departments } },
    ...(cluster.model === undefined ? {} : { model: { path: containerModelDir(cluster.model.path) } }),
    ...(cluster.http === undefined ? {} : {
      http: {
        ...cluster.http,
        listen: `0.0.0.0:${portOf(cluster.http.listen)}`,
        users: `${CONTAINER_PATHS.httpDir}/${HTTP_FILES.users}`,
        secret: `${CONTAINER_PATHS.httpDir}/${HTTP_FILES.secret}`,
      },
    }),
  };
}

/** A model directory of the config, in the container: its last path segment under CONTAINER_PATHS.modelsDir. */
export function containerModelDir(path: string): string {
  return `${CONTAINER_PATHS.modelsDir}/${basename(path.replace(/\/+$/, ""))}`;
}

/**
 * The model directories a hospital's process reads at start, as the container sees them: its
 * executors' and planners' models and, on the front door, the first executor's (its tokenizer).
 */
export function modelDirsOf(cluster: ClusterConfig, hospital: HospitalConfig): string[] {
  return [...new Set(modelSourcesOf(cluster, hospital).map(containerModelDir))];
}

/** The same directories as the config names them (relative to the config file, or absolute). */
function modelSourcesOf(cluster: ClusterConfig, hospital: HospitalConfig): string[] {
  const modelOf = (a: HospitalConfig["actors"][number]) => (a.module === undefined && (a.name === "shard-executor" || a.name === "planner") ? a.model ?? cluster.model?.path : undefined);
  const front = cluster.http?.hospital === hospital.id
    ? cluster.hospitals.flatMap((h) => h.actors.filter((a) => a.name === "shard-executor")).map(modelOf).slice(0, 1)
    : [];
  return [...new Set([...hospital.actors.map(modelOf), ...front].filter((m): m is string => m !== undefined))];
}

/** Whether a hospital's trainer reads CKKS files (its pod then mounts the hospital's CKKS Secret). */
export function readsCkks(hospital: HospitalConfig): boolean {
  return hospital.actors.some((a) => a.ckks !== undefined);
}

/** The port of a host:port the schema has already checked. */
export function portOf(hostPort: string): number {
  return Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
}

function refuseUndeployable(cluster: ClusterConfig): void {
  const problems: string[] = [];
  if (cluster.tls.insecure) problems.push("tls.insecure: a deployment never runs the transport in plaintext (remove insecure: true)");
  cluster.hospitals.forEach((h, i) => h.actors.forEach((a, j) => {
    if (a.module !== undefined) problems.push(`hospitals[${i}].actors[${j}].module: "${a.module}" is code of yours, not in the image; build an image that contains it (FROM the fedrouter image) and render its config yourself`);
  }));
  cluster.hospitals.forEach((h, i) => {
    // Two models of one node must not land in one directory of its volume.
    const byDir = new Map<string, string>();
    for (const source of modelSourcesOf(cluster, h)) {
      const other = byDir.get(containerModelDir(source));
      if (other !== undefined) problems.push(`hospitals[${i}]: models "${other}" and "${source}" would both be ${containerModelDir(source)} in the container; give them different last names`);
      byDir.set(containerModelDir(source), source);
    }
  });
  if (problems.length > 0) throw new ConfigError(cluster.file, problems);
}
