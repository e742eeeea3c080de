/**
 * `fedrouter/cluster`: a hospital node as a library. Describe the federation (`defineCluster`,
 * validated by `parseCluster` or `loadCluster`), start one hospital's node inside your own
 * service (`launchHospital`) and stop it again. It never exits the process and never writes to
 * stdout: it answers with values and typed errors (`ConfigError`, `LaunchError`), and the node
 * logs through the runtime's logger (JSON lines on stderr). The fedrouter CLI is a thin shell
 * over this module.
 *
 * ```ts
 * import { defineCluster, launchHospital } from "fedrouter/cluster";
 *
 * const node = await launchHospital({
 *   config: defineCluster({ name: "embedded", hospitals: [{ id: "hospital-a", region: "eu", address: "127.0.0.1:7411", admin: "127.0.0.1:7412", actors: [{ name: "accountant" }] }] }),
 *   hospital: "hospital-a",
 *   baseDir: "/srv/hospital-a", // keys/hospital-a.crt, keys/ca.crt, .data/hospital-a live here
 * });
 * // node.system.ref("fed://hospital-a/user/node/accountant") is the hospital's Accountant
 * await node.stop(); // actors, transport, Admin service and LMDB closed; the service carries on
 * ```
 * The README's "Embed a hospital node" runs a complete version of this (test/cluster/embed.test.ts).
 */
export {
  ACTOR_PLACEMENTS,
  clusterSchema,
  configPath,
  ConfigError,
  defineCluster,
  findHospital,
  hospitalFiles,
  listenAddresses,
  loadCluster,
  parseCluster,
  type ClusterConfig,
  type ClusterInput,
  type HospitalConfig,
} from "./config.ts";
export { CONTAINER_PATHS, containerConfig, type NodeAddresses } from "./container-config.ts";
export { DEFAULT_KUBERNETES, renderKubernetes, type KubernetesOptions, type Manifest } from "./deploy.ts";
export { CONFIG_OBJECT_NAME, launchHospital, LaunchError, type LaunchOptions, type RunningHospital } from "./launch.ts";
export { ACCOUNTANT_STORE_ID, ACTOR_ARGS, ACTOR_CATALOGUE } from "./catalogue.ts";
export { hasher, tally, TALLY_ACCESS, visits, type HashMsg, type TallyMsg, type VisitsMsg } from "./demo-actors.ts";
export { LOCAL_AUDIENCE, LOCAL_ISSUER, type FrontDoor } from "./front-door.ts";
export { trainFederation, trainingMembers, describeRound, FederatedTrainingFailed, DEFAULT_FEDERATED_TRAINING, type FederatedTrainingOptions, type FederatedTrainingReport } from "./training.ts";
export { renderLossPlot, writeLossPlot, type LossPlot, type PlotSeries } from "./loss-plot.ts";
