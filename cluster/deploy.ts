/**
 * Kubernetes manifests for a federation, rendered from its cluster config: per hospital a
 * StatefulSet of one pod with its own volume, Services for its transport, Admin service and (on
 * the front door) HTTP API, a PodDisruptionBudget and a NetworkPolicy; one ConfigMap with the
 * config as the containers read it. Pure: config in, objects out. Never renders a Secret:
 * certificates, keys and the token secret are the operator's, only referenced by name.
 */
import { createHash } from "node:crypto";
import { InvalidArgument } from "../runtime/index.ts";
import { ConfigError, parseCluster, type ClusterConfig, type HospitalConfig } from "./config.ts";
import { CONTAINER_PATHS, containerConfig, modelDirsOf, portOf, readsCkks } from "./container-config.ts";

/** A Kubernetes object as rendered: plain JSON data, in the order `kubectl apply -f` should meet it. */
export interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

export interface ContainerResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

export interface KubernetesOptions {
  /** The image built from this repository's Dockerfile, e.g. registry.example.org/fedrouter:0.1.0. */
  readonly image: string;
  /** Default DEFAULT_KUBERNETES.namespace. */
  readonly namespace?: string;
  /** Each hospital's volume (LMDB state and its models); default DEFAULT_KUBERNETES.storage. */
  readonly storage?: string;
  /** The volumes' StorageClass; default the cluster's default class. */
  readonly storageClass?: string;
  /** Each hospital container's; default DEFAULT_KUBERNETES.resources. */
  readonly resources?: ContainerResources;
}

/**
 * The defaults, sized for the demo's small models: a node's own footprint is ~150 MB (Node, tfjs,
 * LMDB's map is file-backed), and an executor holds its model's float32 weights plus KV caches
 * (GPT-2 small: ~500 MB of weights). The CPU limit keeps one hospital's executor from starving
 * a neighbour's on a shared node; raise both for larger models.
 */
export const DEFAULT_KUBERNETES = {
  namespace: "fedrouter",
  storage: "5Gi",
  resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } },
} as const satisfies { namespace: string; storage: string; resources: ContainerResources };

/** The user and group the image runs as (the Dockerfile's USER). */
export const CONTAINER_UID = 10_001;
/** The ConfigMap key the containers read (mounted at CONTAINER_PATHS.config). */
export const CONFIG_KEY = "cluster.config.json";

/**
 * A StatefulSet's pods carry a `controller-revision-hash` label of `<name>-<10 chars>`, and a
 * label value holds at most 63: so a hospital id that names a StatefulSet has at most 52.
 */
const MAX_HOSPITAL_ID = 52;
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The names of one hospital's objects; Services are also the DNS names its peers dial. */
export function hospitalNames(id: string): { statefulSet: string; transport: string; admin: string; http: string; tlsSecret: string; ckksSecret: string } {
  return { statefulSet: id, transport: `${id}-transport`, admin: `${id}-admin`, http: `${id}-http`, tlsSecret: `${id}-tls`, ckksSecret: `${id}-ckks` };
}

/** The Secret that holds the front door's user store and token secret. */
export function httpSecretName(cluster: ClusterConfig): string {
  return `${cluster.http!.hospital}-http`;
}

export function configMapName(cluster: ClusterConfig): string {
  return `${labelValue(cluster.name)}-config`;
}

/**
 * Every manifest of the federation, in apply order: Namespace, ConfigMap, then per hospital its
 * Services, StatefulSet, PodDisruptionBudget and NetworkPolicy.
 *
 * ```ts
 * const manifests = renderKubernetes(await loadCluster("cluster.config.ts"), { image: "fedrouter:0.1.0" });
 * // manifests.filter((m) => m.kind === "StatefulSet").length === cluster.hospitals.length
 * ```
 */
export function renderKubernetes(cluster: ClusterConfig, options: KubernetesOptions): Manifest[] {
  const namespace = options.namespace ?? DEFAULT_KUBERNETES.namespace;
  checkOptions(options, namespace);
  checkNames(cluster);
  const config = containerConfig(cluster, (h) => ({
    transport: `${hospitalNames(h.id).transport}.${namespace}.svc:${portOf(h.address)}`,
    admin: `${hospitalNames(h.id).admin}.${namespace}.svc:${portOf(h.admin)}`,
  }));
  // What the containers will read must itself be a valid config: checked here, not at their start.
  parseCluster(config, CONTAINER_PATHS.config);
  const configJson = `${JSON.stringify(config, null, 2)}\n`;
  const configHash = createHash("sha256").update(configJson).digest("hex");
  const part = labelValue(cluster.name);
  const ctx: RenderContext = { cluster, namespace, part, configHash, options };
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { "app.kubernetes.io/part-of": part } } },
    {
      apiVersion: "v1", kind: "ConfigMap",
      metadata: { name: configMapName(cluster), namespace, labels: { "app.kubernetes.io/name": "fedrouter", "app.kubernetes.io/part-of": part } },
      data: { [CONFIG_KEY]: configJson },
    },
    ...cluster.hospitals.flatMap((h) => hospitalManifests(ctx, h)),
  ];
}

interface RenderContext {
  readonly cluster: ClusterConfig;
  readonly namespace: string;
  readonly part: string;
  readonly configHash: string;
  readonly options: KubernetesOptions;
}

/** The labels that select one hospital's pod (StatefulSet, Services, PDB, NetworkPolicy agree on them). */
export function selectorLabels(id: string): Record<string, string> {
  return { "app.kubernetes.io/name": "fedrouter", "app.kubernetes.io/instance": id };
}

function hospitalManifests(ctx: RenderContext, h: HospitalConfig): Manifest[] {
  const { cluster, namespace, part } = ctx;
  const names = hospitalNames(h.id);
  const front = cluster.http?.hospital === h.id;
  const labels = { ...selectorLabels(h.id), "app.kubernetes.io/component": "hospital", "app.kubernetes.io/part-of": part };
  const meta = (name: string) => ({ name, namespace, labels });
  const ports = [
    { name: "transport", port: portOf(h.address) },
    { name: "admin", port: portOf(h.admin) },
    ...(front ? [{ name: "http", port: portOf(cluster.http!.listen) }] : []),
  ];
  const servicePort = (name: string) => {
    const p = ports.find((q) => q.name === name)!;
    return { name, port: p.port, targetPort: name, protocol: "TCP" };
  };
  const others = cluster.hospitals.filter((o) => o.id !== h.id).map((o) => o.id);
  return [
    {
      // Headless: its DNS name resolves to the pod itself, which is what the peers dial. Not-ready
      // addresses are published, so the links form before the front door calls itself ready
      // (a hospital's readiness waits on those very links).
      apiVersion: "v1", kind: "Service", metadata: meta(names.transport),
      spec: { clusterIP: "None", publishNotReadyAddresses: true, selector: selectorLabels(h.id), ports: [servicePort("transport")] },
    },
    { apiVersion: "v1", kind: "Service", metadata: meta(names.admin), spec: { type: "ClusterIP", selector: selectorLabels(h.id), ports: [servicePort("admin")] } },
    ...(front ? [{ apiVersion: "v1", kind: "Service", metadata: meta(names.http), spec: { type: "ClusterIP", selector: selectorLabels(h.id), ports: [servicePort("http")] } }] : []),
    statefulSet(ctx, h, labels, ports),
    {
      // One replica: no voluntary eviction (see README, "Deploy it": an operator moves a hospital).
      // A pod that is already unready serves nothing and may still be evicted, so a broken
      // hospital never blocks a drain.
      apiVersion: "policy/v1", kind: "PodDisruptionBudget", metadata: meta(names.statefulSet),
      spec: { maxUnavailable: 0, unhealthyPodEvictionPolicy: "AlwaysAllow", selector: { matchLabels: selectorLabels(h.id) } },
    },
    {
      apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: meta(names.statefulSet),
      spec: {
        podSelector: { matchLabels: selectorLabels(h.id) },
        policyTypes: ["Ingress"],
        ingress: [
          // The transport only from the other hospitals' pods (mTLS still decides who they are).
          ...(others.length === 0 ? [] : [{
            from: [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "fedrouter", "app.kubernetes.io/part-of": part }, matchExpressions: [{ key: "app.kubernetes.io/instance", operator: "In", values: others }] } }],
            ports: [{ protocol: "TCP", port: "transport" }],
          }]),
          // The Admin service from operator pods (labelled fedrouter/operator: "true"); kubectl port-forward reaches it too.
          { from: [{ podSelector: { matchLabels: { "fedrouter/operator": "true" } } }], ports: [{ protocol: "TCP", port: "admin" }] },
          // The HTTP API from anywhere: users come through an Ingress or a load balancer.
          ...(front ? [{ ports: [{ protocol: "TCP", port: "http" }] }] : []),
        ],
      },
    },
  ];
}

function statefulSet(ctx: RenderContext, h: HospitalConfig, labels: Record<string, string>, ports: { name: string; port: number }[]): Manifest {
  const { cluster, namespace, options } = ctx;
  const names = hospitalNames(h.id);
  const front = cluster.http?.hospital === h.id;
  // The front door says whether it can answer (/health/ready: its Accountant, a routable hospital);
  // a node without HTTP has no health endpoint, so the kubelet can only see that its transport
  // accepts connections. gRPC probes would need a plaintext health service: the transport is mTLS only.
  const ready = front ? { httpGet: { path: "/health/ready", port: "http" } } : { tcpSocket: { port: "transport" } };
  const live = front ? { httpGet: { path: "/health/live", port: "http" } } : { tcpSocket: { port: "transport" } };
  const models = modelDirsOf(cluster, h);
  const ckks = readsCkks(h);
  const securityContext = { runAsNonRoot: true, runAsUser: CONTAINER_UID, runAsGroup: CONTAINER_UID, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } };
  const dataMount = { name: "data", mountPath: CONTAINER_PATHS.dataDir };
  return {
    apiVersion: "apps/v1", kind: "StatefulSet", metadata: { name: names.statefulSet, namespace, labels },
    spec: {
      // One process per hospital: it alone opens its LMDB environment, and its node id is its
      // identity on the transport; a second replica would be a second hospital with the same name.
      replicas: 1,
      serviceName: names.transport,
      selector: { matchLabels: selectorLabels(h.id) },
      // The budgets and the audit trail outlive the StatefulSet: deleting it keeps the volume.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
      template: {
        // A changed config changes this hash, so `kubectl apply` restarts the pods that read it.
        metadata: { labels, annotations: { "fedrouter/config-sha256": ctx.configHash } },
        spec: {
          automountServiceAccountToken: false, // the node never talks to the Kubernetes API
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30, // SIGTERM stops actors, streams and LMDB in order
          securityContext: { runAsNonRoot: true, runAsUser: CONTAINER_UID, runAsGroup: CONTAINER_UID, fsGroup: CONTAINER_UID, fsGroupChangePolicy: "OnRootMismatch", seccompProfile: { type: "RuntimeDefault" } },
          ...(models.length === 0 ? {} : {
            initContainers: [{
              // Models are the hospital's own (its fine-tune): the operator copies them onto the
              // volume while this waits (README, "Deploy it"); the node starts once they are there.
              name: "await-model",
              image: options.image,
              command: ["sh", "-c", AWAIT_MODELS, "await-model", ...models],
              resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
              securityContext,
              volumeMounts: [dataMount],
            }],
          }),
          containers: [{
            name: "node",
            image: options.image,
            args: ["launch"],
            env: [
              { name: "FEDROUTER_HOSPITAL", value: h.id },
              { name: "FEDROUTER_CONFIG", value: CONTAINER_PATHS.config },
              { name: "FEDROUTER_LOG", value: "info" },
            ],
            ports: ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: "TCP" })),
            // Up to 5 minutes to start (a model to load, a trail to replay) before liveness counts.
            startupProbe: { ...live, periodSeconds: 5, failureThreshold: 60 },
            readinessProbe: { ...ready, periodSeconds: 10, failureThreshold: 3 },
            livenessProbe: { ...live, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
            resources: options.resources ?? DEFAULT_KUBERNETES.resources,
            securityContext,
            volumeMounts: [
              dataMount,
              { name: "config", mountPath: CONTAINER_PATHS.config, subPath: CONFIG_KEY, readOnly: true },
              { name: "tls", mountPath: CONTAINER_PATHS.tlsDir, readOnly: true },
              ...(front ? [{ name: "http", mountPath: CONTAINER_PATHS.httpDir, readOnly: true }] : []),
              ...(ckks ? [{ name: "ckks", mountPath: CONTAINER_PATHS.ckksDir, readOnly: true }] : []),
              { name: "tmp", mountPath: "/tmp" }, // tsx's transform cache; the root filesystem is read-only
            ],
          }],
          volumes: [
            { name: "config", configMap: { name: configMapName(cluster) } },
            { name: "tls", secret: { secretName: names.tlsSecret, defaultMode: 0o440 } },
            ...(front ? [{ name: "http", secret: { secretName: httpSecretName(cluster), defaultMode: 0o440 } }] : []),
            // The key share is this hospital's alone: its own Secret, never the others'.
            ...(ckks ? [{ name: "ckks", secret: { secretName: names.ckksSecret, defaultMode: 0o440 } }] : []),
            { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
          ],
        },
      },
      volumeClaimTemplates: [{
        metadata: { name: "data", labels: selectorLabels(h.id) },
        spec: {
          accessModes: ["ReadWriteOnce"],
          ...(options.storageClass === undefined ? {} : { storageClassName: options.storageClass }),
          resources: { requests: { storage: options.storage ?? DEFAULT_KUBERNETES.storage } },
        },
      }],
    },
  };
}

/** Waits until every model directory given as an argument has its config.json (copied in, then renamed into place). */
const AWAIT_MODELS = [
  `mkdir -p ${CONTAINER_PATHS.modelsDir}`,
  'for dir in "$@"; do',
  '  until [ -f "$dir/config.json" ]; do echo "waiting for the model $dir: copy it onto this volume (README, Deploy it)"; sleep 10; done',
  "done",
].join("\n");

function checkOptions(options: KubernetesOptions, namespace: string): void {
  if (options.image.trim() === "" || /\s/.test(options.image)) throw new InvalidArgument("image", `"${options.image}" is not an image reference (e.g. registry.example.org/fedrouter:0.1.0)`);
  if (!DNS_LABEL.test(namespace) || namespace.length > 63) throw new InvalidArgument("namespace", `"${namespace}" is not a DNS label (lowercase letters, digits and dashes, at most 63, starting with a letter)`);
  const quantity = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
  if (options.storage !== undefined && !quantity.test(options.storage)) throw new InvalidArgument("storage", `"${options.storage}" is not a Kubernetes quantity (e.g. 5Gi)`);
}

/** Hospital ids become object and DNS names: they must fit Kubernetes' rules, which are tighter than the config's. */
function checkNames(cluster: ClusterConfig): void {
  const problems = cluster.hospitals.flatMap((h, i) =>
    DNS_LABEL.test(h.id) && h.id.length <= MAX_HOSPITAL_ID
      ? []
      : [`hospitals[${i}].id: "${h.id}" cannot name Kubernetes objects (start with a letter, end with a letter or digit, at most ${MAX_HOSPITAL_ID} characters)`]);
  if (problems.length > 0) throw new ConfigError(cluster.file, problems);
}

/** A label value from any name: lowercase [a-z0-9-], at most 63, alphanumeric at both ends. */
function labelValue(name: string): string {
  const value = name.toLowerCase().replace(/[^a-z0-9-]+/g, "-").slice(0, 63).replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return value === "" ? "fedrouter" : value;
}
