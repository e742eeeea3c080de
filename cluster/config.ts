/**
 * The typed, validated description of a federation: `cluster.config.ts` exports
 * `defineCluster({...})`. A wrong config fails at start with one line per problem, each
 * naming the field, the value and what was expected.
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { FedrouterError, registerErrors } from "../runtime/index.ts";
import { DEFAULT_DEPARTMENT_BUDGETS, DEFAULT_DELTA } from "../actors/accountant/index.ts";
import { DEFAULT_ROUTER, FRONT_DOOR_STRATEGIES } from "../actors/router/index.ts";

// The defaults are the actors' own (one place each): department budgets and δ from the
// Accountant, routing and ensemble from the Router. The config only names them.
const DEFAULT_PRIVACY = { delta: DEFAULT_DELTA, departments: { ...DEFAULT_DEPARTMENT_BUDGETS }, reset: "monthly" as const, timeZone: "UTC" };

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be lowercase letters, digits and dashes (at most 63), starting with a letter or digit");
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, { error: "must be host:port, e.g. 127.0.0.1:7101", abort: true }).refine((v) => {
  const port = Number(v.slice(v.lastIndexOf(":") + 1));
  return port > 0 && port < 65_536;
}, "port must be 1–65535");
const epsilon = z.number().finite().nonnegative();

export const ACTOR_PLACEMENTS = ["local", "worker", "pool"] as const;

const actorSchema = z.strictObject({
  /** The child's name under the node's supervisor; also the catalogue entry unless `module` is given. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "must be [A-Za-z0-9._-]"),
  /** A module of your own (path relative to the config) exporting a defineActor() result… */
  module: z.string().min(1).optional(),
  /** …whose id is this (default: `name`). */
  definition: z.string().min(1).optional(),
  placement: z.enum(ACTOR_PLACEMENTS).default("local"),
  poolThreads: z.number().int().min(1).max(64).optional(),
  /** For a shard-executor (or a planner, which reads its block count, or a trainer, whose base it is): its own model directory (a hospital's fine-tune); default the cluster's model.path. */
  model: z.string().min(1).optional(),
  /** For a shard-executor: the model blocks it runs, [from, to); default all of them. */
  blocks: z.strictObject({ from: z.number().int().min(0), to: z.number().int().min(1) })
    .refine((b) => b.from < b.to, "from must be below to").optional(),
  /**
   * For a shard-executor: the hospital whose Planner it joins at launch (default its own, when
   * that runs a `planner`). An executor that holds part of the model joins the Planner of the
   * hospital that serves the pipeline across hospitals.
   */
  planner: z.string().min(1).optional(),
  /**
   * For a trainer: the hospital whose training coordinator may drive its rounds over the transport
   * (default the hospital that serves the HTTP API, `http.hospital`; with neither, only its own node).
   */
  coordinator: z.string().min(1).optional(),
  /**
   * For a trainer: whether its coordinator may put a finished job's model in service here
   * (`fedrouter train --live --install`): written over its `model` (the replaced files kept in
   * `previous/`), this hospital's shard-executors of that model reload it. Default false.
   */
  acceptInstall: z.boolean().optional(),
  /**
   * For a trainer: CKKS secure aggregation (`fedrouter train --live --protection ckks`): the
   * federation's public bundle, this hospital's key share and its signing key, files
   * `fedrouter keys ckks` wrote (paths relative to the config). Without `share` it encrypts but
   * does not decrypt; where the bundle lists signers, `signing` is needed to take part.
   */
  ckks: z.strictObject({ bundle: z.string().min(1), share: z.string().min(1).optional(), signing: z.string().min(1).optional() }).optional(),
});

const hospitalSchema = z.strictObject({
  id,
  region: z.string().min(1),
  /** Its share of single answers when `http.strategy` is "weighted" (default 1). */
  weight: z.number().positive().max(1_000).optional(),
  /** Where the node's transport listens (gRPC, mTLS). */
  address: hostPort,
  /** Where the node's Admin service listens (gRPC, mTLS, operator certificates only). */
  admin: hostPort,
  /**
   * The interface the transport and the Admin service bind to, on the ports of `address` and
   * `admin`; default the host of each. In a container or behind NAT, "0.0.0.0": `address` and
   * `admin` then say where the others reach this node (a Service, a public name), not where it binds.
   */
  listenHost: z.string().regex(/^[^\s:]+$/, "must be a host or IPv4 address without a port, e.g. 0.0.0.0").optional(),
  /** Certificate and key of this hospital; default keys/<id>.crt and keys/<id>.key. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
  /** The node's LMDB environment; default .data/<id>. */
  dataDir: z.string().min(1).optional(),
  actors: z.array(actorSchema).default([]),
});

const departmentBudgets = z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, "department names are lowercase"), epsilon);

export const clusterSchema = z.strictObject({
  name: z.string().min(1),
  tls: z.strictObject({
    /** The CA that signs every hospital and operator certificate. */
    ca: z.string().min(1).default("keys/ca.crt"),
    /** Certificate CNs allowed to use the Admin service (the REPL). */
    operators: z.array(z.string().min(1)).min(1).default(["operator"]),
    /** Plaintext between nodes. Only for tests of the insecure path; never in a deployment. */
    insecure: z.boolean().default(false),
  }).default({ ca: "keys/ca.crt", operators: ["operator"], insecure: false }),
  hospitals: z.array(hospitalSchema).min(1),
  privacy: z.strictObject({
    delta: z.number().gt(0).lt(1).default(DEFAULT_PRIVACY.delta),
    departments: departmentBudgets.default(DEFAULT_PRIVACY.departments),
    reset: z.enum(["daily", "weekly", "monthly"]).default("monthly"),
    timeZone: z.string().min(1).default("UTC").refine(isTimeZone, "is not an IANA time zone (e.g. Europe/Berlin)"),
  }).default(DEFAULT_PRIVACY),
  model: z.strictObject({
    /** A local Hugging Face GPT-2 directory. */
    path: z.string().min(1),
  }).optional(),
  /** The HTTP front door (the Router): which hospital's process serves it, and where. */
  http: z.strictObject({
    hospital: id,
    listen: hostPort.default("127.0.0.1:8080"),
    /** The local user store (scrypt-hashed passwords) behind POST /v1/auth/token. */
    users: z.string().min(1).default(".data/users.json"),
    /** The HS256 secret of locally issued tokens (a dev file `fedrouter demo` creates if absent). */
    secret: z.string().min(1).default("keys/http-secret"),
    /**
     * Routing of single answers ("weighted" uses each hospital's `weight`). The strategies library
     * also has "privacy-aware", which needs each hospital's budget verdict; no component gives one
     * yet, so the front door does not offer it (README, "Not built yet").
     */
    strategy: z.enum(FRONT_DOOR_STRATEGIES).default(DEFAULT_ROUTER.strategy),
    /**
     * DP ensemble decoding: GNMax noise σ on the vote histogram, hospitals per vote. `confident`
     * turns on PATE's Confident-GNMax: a token only when the top vote count plus noise of σ
     * `sigma1` reaches `threshold` votes, every check charged (README, "What ε means here").
     */
    ensemble: z.strictObject({
      sigma: z.number().positive().default(DEFAULT_ROUTER.sigma), k: z.number().int().min(1).max(64).default(DEFAULT_ROUTER.k),
      confident: z.strictObject({ threshold: z.number().finite().min(0), sigma1: z.number().finite().positive() }).optional(),
    }).default({ sigma: DEFAULT_ROUTER.sigma, k: DEFAULT_ROUTER.k }),
    /** How the OpenAI-compatible endpoints answer: one model ("single", free) or DP ensemble decoding ("ensemble", charged). */
    privacy: z.strictObject({ mode: z.enum(["single", "ensemble"]).default("single") }).default({ mode: "single" }),
  }).optional(),
}).superRefine((cluster, ctx) => {
  cluster.hospitals.forEach((h, i) => h.actors.forEach((a, j) => {
    if ((a.name === "shard-executor" || a.name === "planner" || a.name === "trainer") && a.module === undefined && cluster.model === undefined && a.model === undefined) {
      ctx.addIssue({ code: "custom", path: ["hospitals", i, "actors", j, "name"], message: `a ${a.name} needs a model: its own (model) or the cluster's (model.path), a Hugging Face GPT-2 directory` });
    }
    if (a.planner !== undefined) {
      const target = cluster.hospitals.find((other) => other.id === a.planner);
      if (target === undefined || !target.actors.some((b) => b.name === "planner")) {
        ctx.addIssue({ code: "custom", path: ["hospitals", i, "actors", j, "planner"], message: `"${a.planner}" is not a hospital that runs a planner` });
      }
    }
    if (a.coordinator !== undefined && !cluster.hospitals.some((other) => other.id === a.coordinator)) {
      ctx.addIssue({ code: "custom", path: ["hospitals", i, "actors", j, "coordinator"], message: `"${a.coordinator}" is not a hospital of this cluster` });
    }
  }));
  if (cluster.http !== undefined) {
    const front = cluster.hospitals.find((h) => h.id === cluster.http!.hospital);
    if (front === undefined) ctx.addIssue({ code: "custom", path: ["http", "hospital"], message: `"${cluster.http.hospital}" is not one of the hospitals` });
    else for (const needed of ["accountant", "aggregator"]) {
      if (!front.actors.some((a) => a.name === needed)) ctx.addIssue({ code: "custom", path: ["http", "hospital"], message: `${front.id} serves the HTTP API, so it must run an ${needed}` });
    }
  }
  const seen = new Map<string, number>();
  cluster.hospitals.forEach((h, i) => {
    if (seen.has(h.id)) ctx.addIssue({ code: "custom", path: ["hospitals", i, "id"], message: `"${h.id}" is also hospitals[${seen.get(h.id)}].id` });
    seen.set(h.id, i);
  });
  const addresses = new Map<string, string>();
  cluster.hospitals.forEach((h, i) => {
    for (const field of ["address", "admin"] as const) {
      const other = addresses.get(h[field]);
      if (other !== undefined) ctx.addIssue({ code: "custom", path: ["hospitals", i, field], message: `${h[field]} is already used by ${other}` });
      addresses.set(h[field], `hospitals[${i}].${field}`);
    }
  });
});

export type ClusterInput = z.input<typeof clusterSchema>;
export type ClusterConfig = z.output<typeof clusterSchema> & { readonly file: string };
export type HospitalConfig = ClusterConfig["hospitals"][number];

/** Typed identity for cluster.config.ts; validation happens when the config is loaded. */
export function defineCluster(config: ClusterInput): ClusterInput {
  return config;
}

export class ConfigError extends FedrouterError {
  readonly code = "INVALID_CONFIG";
  constructor(readonly file: string, readonly problems: readonly string[]) {
    super(`${file}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

registerErrors({ INVALID_CONFIG: (f) => new ConfigError(f.string("file"), f.value("problems") as string[]) });

/** Validates a config object; every problem is one line naming its field. */
export function parseCluster(input: unknown, file: string): ClusterConfig {
  const result = clusterSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(file, result.error.issues.map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue, input)}`));
  }
  return { ...result.data, file };
}

/** Loads and validates a cluster.config.ts (or .js/.mjs/.json). */
export async function loadCluster(path: string): Promise<ClusterConfig> {
  const file = resolve(path);
  let input: unknown;
  try {
    input = file.endsWith(".json") ? JSON.parse(readFileSync(file, "utf8")) : ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  } catch (error) {
    throw new ConfigError(file, [`cannot load: ${error instanceof Error ? error.message : String(error)}`]);
  }
  if (input === undefined) throw new ConfigError(file, ["has no default export (export default defineCluster({...}))"]);
  return parseCluster(input, file);
}

/** A path from the config, resolved against the config file's folder. */
export function configPath(cluster: ClusterConfig, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(cluster.file), path);
}

export function hospitalFiles(cluster: ClusterConfig, hospital: HospitalConfig): { ca: string; cert: string; key: string; dataDir: string } {
  return {
    ca: configPath(cluster, cluster.tls.ca),
    cert: configPath(cluster, hospital.cert ?? `keys/${hospital.id}.crt`),
    key: configPath(cluster, hospital.key ?? `keys/${hospital.id}.key`),
    dataDir: configPath(cluster, hospital.dataDir ?? `.data/${hospital.id}`),
  };
}

/** Where a hospital's transport and Admin service bind: `listenHost` with the ports of `address` and `admin`. */
export function listenAddresses(hospital: HospitalConfig): { transport: string; admin: string } {
  const on = (hostPort: string) => (hospital.listenHost === undefined ? hostPort : `${hospital.listenHost}:${hostPort.slice(hostPort.lastIndexOf(":") + 1)}`);
  return { transport: on(hospital.address), admin: on(hospital.admin) };
}

export function findHospital(cluster: ClusterConfig, id: string): HospitalConfig {
  const hospital = cluster.hospitals.find((h) => h.id === id);
  if (hospital === undefined) {
    throw new ConfigError(cluster.file, [`--hospital "${id}" is not in hospitals (known: ${cluster.hospitals.map((h) => h.id).join(", ")})`]);
  }
  return hospital;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), "") || "(root)";
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const value = valueAt(input, issue.path);
  const shown = value === undefined ? "" : ` (got ${JSON.stringify(value)?.slice(0, 60)})`;
  if (issue.code === "invalid_type" && value === undefined) return `is required (${issue.expected})`;
  if (issue.code === "unrecognized_keys") return `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  return `${issue.message}${shown}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value: unknown = input;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
