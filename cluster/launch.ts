/**
 * One hospital's node inside the caller's process — actor system with its LMDB environment, the
 * actors its config lists, the Admin service and the federation transport over mTLS — and the
 * handle that stops it. Every problem an operator can fix (config, certificates, a busy port) is
 * a `LaunchError` whose message names it. Never exits the process and never writes to stdout:
 * `fedrouter launch` (bin/) does the printing and chooses the exit code.
 */
import { resolve } from "node:path";
import { ActorSystem, DataFileUnreadable, FedrouterError, actor, readTlsFiles, registerErrors, supervisor, type ChildSpec, type LogLevel, type RemoteSecurity } from "../runtime/index.ts";
import { AdminServer, type OperatorAction } from "../runtime/remote/admin-server.ts";
import { AccountantClient, type AccountantMsg } from "../actors/accountant/index.ts";
import { pathToFileURL } from "node:url";
import { loadDefinition } from "../runtime/threads/load-definition.ts";
import { ACTOR_ARGS, ACTOR_CATALOGUE } from "./catalogue.ts";
import { startFrontDoor, type FrontDoor } from "./front-door.ts";
import { startPlacement } from "./placement.ts";
import { ConfigError, configPath, findHospital, hospitalFiles, listenAddresses, loadCluster, parseCluster, type ClusterConfig, type ClusterInput, type HospitalConfig } from "./config.ts";

export class LaunchError extends FedrouterError {
  readonly code = "LAUNCH_FAILED";
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

registerErrors({ LAUNCH_FAILED: (f) => new LaunchError(f.string("message"), f.number("exitCode")) });

export interface LaunchOptions {
  /** The cluster: a config file (cluster.config.ts, .js, .mjs or .json), or the object `defineCluster` takes. */
  readonly config: string | ClusterInput;
  /** Which of the cluster's hospitals this node is. */
  readonly hospital: string;
  /** For a config object: the folder its relative paths (keys/, .data/, models) resolve against; default the working directory. */
  readonly baseDir?: string;
  /** The node's log level (JSON lines on stderr); default FEDROUTER_LOG, else "warn". */
  readonly logLevel?: LogLevel;
}

/** What errors and relative paths call a config given as an object: a name in `baseDir`, no file. */
export const CONFIG_OBJECT_NAME = "(config object)";

export interface RunningHospital {
  readonly cluster: ClusterConfig;
  readonly hospital: HospitalConfig;
  readonly system: ActorSystem;
  readonly admin: AdminServer;
  /** The HTTP API, when this hospital serves it (cluster.config.ts `http.hospital`). */
  readonly frontDoor?: FrontDoor;
  /** Stops the HTTP API, the Admin service, the actors (in reverse order), the transport and LMDB; a second call waits on the first. */
  stop(): Promise<void>;
}

export async function launchHospital(opts: LaunchOptions): Promise<RunningHospital> {
  let cluster: ClusterConfig;
  let hospital: HospitalConfig;
  try {
    cluster = typeof opts.config === "string"
      ? await loadCluster(opts.config)
      : parseCluster(opts.config, resolve(opts.baseDir ?? process.cwd(), CONFIG_OBJECT_NAME));
    hospital = findHospital(cluster, opts.hospital);
  } catch (error) {
    if (error instanceof ConfigError) throw new LaunchError(`invalid cluster config ${error.message}`, 2);
    throw error;
  }
  const children = await actorSpecs(cluster, hospital);
  const files = hospitalFiles(cluster, hospital);
  const listen = listenAddresses(hospital);
  const security: RemoteSecurity = cluster.tls.insecure ? { kind: "insecure" } : tlsFiles(files);
  let system: ActorSystem;
  try {
    system = await ActorSystem.start({
      node: hospital.id,
      ...(opts.logLevel ? { logLevel: opts.logLevel } : {}),
      persistence: { path: files.dataDir },
      remote: {
        listen: listen.transport,
        peers: cluster.hospitals.map((h) => ({ id: h.id, address: h.address })),
        security,
      },
    });
  } catch (error) {
    throw asLaunchError(error, hospital, listen.transport);
  }
  try {
    await system.startChild(supervisor("node", children, { strategy: "one-for-one", intensity: 5, periodMs: 30_000 }));
  } catch (error) {
    await system.stop();
    throw new LaunchError(`${hospital.id}: an actor failed to start: ${error instanceof Error ? error.message : String(error)}`, 1);
  }
  // Executors join their Planners (retried until accepted, again whenever the link comes back).
  const placement = startPlacement(cluster, hospital, system);
  let admin: AdminServer;
  try {
    admin = await AdminServer.start(system, { listen: listen.admin, security, operatorIds: cluster.tls.operators, ...operatorAudit(hospital, system) });
  } catch (error) {
    placement.stop();
    await system.stop();
    const message = error instanceof Error ? error.message : String(error);
    throw /EADDRINUSE|No address added/.test(message)
      ? new LaunchError(`${hospital.id}: admin address ${listen.admin} is already in use`, 1)
      : new LaunchError(`${hospital.id}: the admin service could not start: ${message}`, 1);
  }
  let frontDoor: FrontDoor | undefined;
  if (cluster.http?.hospital === hospital.id) {
    try {
      frontDoor = await startFrontDoor(cluster, hospital, system);
    } catch (error) {
      placement.stop();
      await admin.stop();
      await system.stop();
      const message = error instanceof Error ? error.message : String(error);
      throw new LaunchError(/EADDRINUSE/.test(message) ? `${hospital.id}: the HTTP address ${cluster.http.listen} is already in use` : `${hospital.id}: the HTTP API could not start: ${message}`, 1);
    }
  }
  let stopped: Promise<void> | undefined;
  // Each step runs whatever the one before did: a front door that fails to close must not leave
  // the Admin service listening or LMDB open.
  const stopAll = async () => {
    placement.stop();
    try {
      await frontDoor?.close();
    } finally {
      try {
        await admin.stop();
      } finally {
        await system.stop();
      }
    }
  };
  return {
    cluster,
    hospital,
    system,
    admin,
    ...(frontDoor ? { frontDoor } : {}),
    stop: () => (stopped ??= stopAll()),
  };
}

/**
 * Every Admin action is written to the hospital's audit trail (its Accountant's hash-chained
 * journal) before it takes effect. A hospital without an Accountant has no trail: its operator
 * actions are logged only, and it says so once at start.
 */
function operatorAudit(hospital: HospitalConfig, system: ActorSystem): { audit?: (action: OperatorAction) => Promise<void> } {
  if (!hospital.actors.some((a) => a.name === "accountant")) {
    system.log.warn("operator-actions-not-audited", { node: hospital.id, reason: "this hospital runs no accountant, whose trail would record them; they are logged only" });
    return {};
  }
  const trail = new AccountantClient(system.ref<AccountantMsg>(`fed://${hospital.id}/user/node/accountant`));
  return {
    audit: async (action) => {
      const reply = await trail.recordOperatorAction(action);
      if (reply.type !== "recorded") throw new Error(`${reply.code}: ${reply.message}`);
    },
  };
}

async function actorSpecs(cluster: ClusterConfig, hospital: HospitalConfig): Promise<ChildSpec[]> {
  const index = cluster.hospitals.indexOf(hospital);
  const specs: ChildSpec[] = [];
  for (const [i, entry] of hospital.actors.entries()) {
    const field = `hospitals[${index}].actors[${i}]`;
    let definition = entry.module === undefined ? ACTOR_CATALOGUE[entry.name] : undefined;
    if (entry.module !== undefined) {
      try {
        definition = await loadDefinition(pathToFileURL(configPath(cluster, entry.module)).href, entry.definition ?? entry.name);
      } catch (error) {
        throw new LaunchError(`invalid cluster config ${cluster.file}:\n  - ${field}.module: ${error instanceof Error ? error.message : String(error)}`, 2);
      }
    }
    if (definition === undefined) {
      throw new LaunchError(
        `invalid cluster config ${cluster.file}:\n  - ${field}.name: "${entry.name}" is not a known actor (known: ${Object.keys(ACTOR_CATALOGUE).join(", ")}; or give a module)`,
        2,
      );
    }
    const args = entry.module === undefined ? ACTOR_ARGS[entry.name]?.(cluster, entry, hospital) : undefined;
    specs.push(actor(entry.name, definition, args, {
      placement: entry.placement,
      ...(entry.poolThreads ? { poolThreads: entry.poolThreads } : {}),
      // A broken audit trail is not mended by restarting: the Accountant stops (and the front door
      // reports it not ready) until an operator restores the node's LMDB directory.
      ...(definition === ACTOR_CATALOGUE.accountant ? { stopOn: ["AUDIT_TRAIL_BROKEN"] } : {}),
    }));
  }
  return specs;
}

function tlsFiles(files: { ca: string; cert: string; key: string }): RemoteSecurity {
  try {
    return readTlsFiles(files.ca, files.cert, files.key);
  } catch (error) {
    throw new LaunchError(`${error instanceof Error ? error.message : String(error)}`, 2);
  }
}

function asLaunchError(error: unknown, hospital: HospitalConfig, listen: string): LaunchError {
  // A data.mdb that is not whole LMDB stays so: a restart would fail the same way.
  if (error instanceof DataFileUnreadable) return new LaunchError(`${hospital.id}: ${error.reason}`, 2);
  const message = error instanceof Error ? error.message : String(error);
  if (/EADDRINUSE|No address added out of total/.test(message)) {
    return new LaunchError(`${hospital.id}: ${listen} is already in use (another node, or a previous run still shutting down?)`, 1);
  }
  return new LaunchError(`${hospital.id}: could not start: ${message}`, 1);
}
