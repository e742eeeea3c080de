/**
 * `fedrouter deploy k8s`: the federation's Kubernetes manifests on stdout, one YAML document per
 * object (`renderKubernetes` from cluster/deploy.ts does the work); `fedrouter deploy config`: the
 * config a container of the image reads, for hosts without Kubernetes. Both write no file and
 * create no Secret: the certificates stay with the operator.
 */
import { stringify } from "yaml";
import { ConfigError, containerConfig, loadCluster, renderKubernetes, type Manifest } from "../../cluster/index.ts";
import { InvalidArgument } from "../../runtime/index.ts";

export interface DeployK8sOptions {
  readonly config: string;
  readonly image: string;
  readonly namespace?: string;
  readonly storage?: string;
  readonly storageClass?: string;
}

/** The manifests as one multi-document YAML stream (`---` between objects). */
export function manifestsYaml(manifests: readonly Manifest[]): string {
  // Written out in full (no &anchors for repeated labels), long lines left unfolded: for people to read.
  return manifests.map((m) => stringify(m, { aliasDuplicateObjects: false, lineWidth: 0 })).join("---\n");
}

/** Exit code: 0 printed, 2 refused (the message on stderr names the field or option). */
export async function runDeployK8s(options: DeployK8sOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<number> {
  try {
    const cluster = await loadCluster(options.config);
    const manifests = renderKubernetes(cluster, {
      image: options.image,
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.storage === undefined ? {} : { storage: options.storage }),
      ...(options.storageClass === undefined ? {} : { storageClass: options.storageClass }),
    });
    io.stdout.write(`# fedrouter deploy k8s --config ${options.config}: ${cluster.hospitals.length} hospitals; Secrets <hospital>-tls${cluster.http ? ` and ${cluster.http.hospital}-http` : ""} are yours to create (README, "Deploy it")\n`);
    io.stdout.write(manifestsYaml(manifests));
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(`fedrouter deploy k8s: cannot deploy cluster config ${error.message}\n`);
      return 2;
    }
    if (error instanceof InvalidArgument) {
      io.stderr.write(`fedrouter deploy k8s: --${error.field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${error.reason}\n`);
      return 2;
    }
    throw error;
  }
}

/**
 * The cluster config as the image reads it, JSON on stdout: each node bound to 0.0.0.0 and reached
 * at the config's own addresses (public names, one machine each), every path at a mount point.
 * Exit code: 0 printed, 2 refused.
 */
export async function runDeployConfig(options: { config: string }, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<number> {
  try {
    const cluster = await loadCluster(options.config);
    io.stdout.write(`${JSON.stringify(containerConfig(cluster, (h) => ({ transport: h.address, admin: h.admin })), null, 2)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`fedrouter deploy config: cannot deploy cluster config ${error.message}\n`);
    return 2;
  }
}
