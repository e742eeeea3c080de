import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { ConfigError, loadCluster, parseCluster, type ClusterConfig } from "../../cluster/config.ts";
import { CONFIG_KEY, CONTAINER_UID, hospitalNames, renderKubernetes, selectorLabels, type Manifest } from "../../cluster/deploy.ts";
import { CKKS_FILES, CONTAINER_PATHS, HTTP_FILES, TLS_FILES } from "../../cluster/container-config.ts";
import { InvalidArgument } from "../../runtime/index.ts";
import { manifestsYaml } from "../../bin/deploy/deploy-command.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const NAMESPACE = "fed-test";
const IMAGE = "registry.example.org/fedrouter:0.1.0";

const cluster = await loadCluster(`${ROOT}cluster.config.ts`);
const manifests = renderKubernetes(cluster, { image: IMAGE, namespace: NAMESPACE });

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are plain JSON; the tests read them as such */
const ofKind = (kind: string): any[] => manifests.filter((m) => m.kind === kind);
const named = (kind: string, name: string): any => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  assert.ok(found, `no ${kind} ${name}`);
  return found;
};
const podOf = (id: string): any => named("StatefulSet", hospitalNames(id).statefulSet).spec.template;
const nodeContainer = (id: string): any => podOf(id).spec.containers.find((c: any) => c.name === "node");
const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(":") + 1));
const renderedConfig = (): ClusterConfig => parseCluster(JSON.parse(ofKind("ConfigMap")[0].data[CONFIG_KEY]), CONTAINER_PATHS.config);

/** RFC 1123 label (names of Services, StatefulSets, namespaces), and the tighter RFC 1035 form Services need. */
const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

test("every hospital of cluster.config.ts gets one StatefulSet of one replica, its transport and Admin Services, a PodDisruptionBudget and a NetworkPolicy; the front door an HTTP Service", () => {
  for (const h of cluster.hospitals) {
    const names = hospitalNames(h.id);
    const set = named("StatefulSet", names.statefulSet);
    assert.equal(set.spec.replicas, 1, `${h.id}: one process owns its LMDB environment`);
    assert.equal(set.spec.serviceName, names.transport, "the governing Service is the headless transport one");
    named("Service", names.transport);
    named("Service", names.admin);
    named("PodDisruptionBudget", names.statefulSet);
    named("NetworkPolicy", names.statefulSet);
    assert.equal(manifests.some((m) => m.kind === "Service" && m.metadata.name === names.http), h.id === cluster.http!.hospital);
  }
  assert.equal(ofKind("StatefulSet").length, cluster.hospitals.length);
  assert.deepEqual(manifests.slice(0, 2).map((m) => m.kind), ["Namespace", "ConfigMap"], "what the pods need is applied first");
});

test("every name is a valid DNS label (Services: RFC 1035) and every namespaced object is in the namespace asked for", () => {
  for (const m of manifests) {
    assert.ok(DNS_1123_LABEL.test(m.metadata.name) && m.metadata.name.length <= 63, `${m.kind} ${m.metadata.name}`);
    if (m.kind === "Service") assert.ok(DNS_1035_LABEL.test(m.metadata.name), `Service ${m.metadata.name}`);
    if (m.kind !== "Namespace") assert.equal(m.metadata.namespace, NAMESPACE, `${m.kind} ${m.metadata.name}`);
  }
  for (const set of ofKind("StatefulSet")) {
    for (const p of [...set.spec.template.spec.containers, ...(set.spec.template.spec.initContainers ?? [])].flatMap((c: any) => c.ports ?? [])) {
      assert.ok(p.name.length <= 15 && DNS_1035_LABEL.test(p.name), `port name ${p.name} is an IANA service name`);
    }
  }
});

test("Service ports equal the config's ports and target container ports that exist, on the pod they select", () => {
  for (const h of cluster.hospitals) {
    const names = hospitalNames(h.id);
    const container = nodeContainer(h.id);
    const containerPorts = new Map<string, number>(container.ports.map((p: any) => [p.name, p.containerPort]));
    const expected: [string, string, number][] = [
      [names.transport, "transport", portOf(h.address)],
      [names.admin, "admin", portOf(h.admin)],
      ...(h.id === cluster.http!.hospital ? [[names.http, "http", portOf(cluster.http!.listen)] as [string, string, number]] : []),
    ];
    for (const [service, portName, port] of expected) {
      const spec = named("Service", service).spec;
      assert.deepEqual(spec.ports.map((p: any) => [p.name, p.port]), [[portName, port]], `${service}`);
      assert.equal(containerPorts.get(spec.ports[0].targetPort), port, `${service} targets a container port of the same number`);
      for (const [key, value] of Object.entries(spec.selector)) assert.equal(podOf(h.id).metadata.labels[key], value, `${service} selects ${h.id}'s pod`);
    }
    assert.equal(container.ports.length, expected.length, "no container port without its Service");
    const transport = named("Service", names.transport).spec;
    assert.equal(transport.clusterIP, "None");
    assert.equal(transport.publishNotReadyAddresses, true, "peers link up before the front door calls itself ready");
  }
});

test("selectors match pod labels: StatefulSet, PodDisruptionBudget and NetworkPolicy select the hospital's pod and no other", () => {
  for (const h of cluster.hospitals) {
    const name = hospitalNames(h.id).statefulSet;
    const labels = podOf(h.id).metadata.labels;
    const selects = (selector: Record<string, string>, podLabels: Record<string, string>) => Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    for (const selector of [named("StatefulSet", name).spec.selector.matchLabels, named("PodDisruptionBudget", name).spec.selector.matchLabels, named("NetworkPolicy", name).spec.podSelector.matchLabels]) {
      assert.deepEqual(selector, selectorLabels(h.id));
      assert.ok(selects(selector, labels));
      for (const other of cluster.hospitals.filter((o) => o.id !== h.id)) assert.ok(!selects(selector, podOf(other.id).metadata.labels), `${name} does not select ${other.id}`);
    }
  }
});

test("probes: /health/ready and /health/live on the front door's HTTP port, the transport port elsewhere; every probed port is a container port", () => {
  for (const h of cluster.hospitals) {
    const container = nodeContainer(h.id);
    const names = new Set(container.ports.map((p: any) => p.name));
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
      const target = container[probe].httpGet ?? container[probe].tcpSocket;
      assert.ok(names.has(target.port), `${h.id} ${probe} probes port ${target.port}`);
    }
    if (h.id === cluster.http!.hospital) {
      assert.deepEqual(container.readinessProbe.httpGet, { path: "/health/ready", port: "http" });
      assert.deepEqual(container.livenessProbe.httpGet, { path: "/health/live", port: "http" });
    } else {
      assert.deepEqual(container.readinessProbe.tcpSocket, { port: "transport" });
      assert.deepEqual(container.livenessProbe.tcpSocket, { port: "transport" });
    }
  }
});

test("the ConfigMap's config parses with the cluster schema, binds 0.0.0.0 on the config's ports, and points each peer at its rendered transport Service", () => {
  const rendered = renderedConfig();
  assert.deepEqual(rendered.hospitals.map((h) => h.id), cluster.hospitals.map((h) => h.id));
  for (const [i, h] of rendered.hospitals.entries()) {
    const original = cluster.hospitals[i]!;
    const names = hospitalNames(h.id);
    assert.equal(h.address, `${names.transport}.${NAMESPACE}.svc:${portOf(original.address)}`);
    assert.equal(h.admin, `${names.admin}.${NAMESPACE}.svc:${portOf(original.admin)}`);
    assert.equal(h.listenHost, "0.0.0.0");
    // The Service that name resolves to exists and serves that very port.
    const service = named("Service", h.address.split(".")[0]!);
    assert.equal(service.metadata.namespace, h.address.split(".")[1]);
    assert.equal(service.spec.ports[0].port, portOf(h.address));
    assert.equal(h.cert, `${CONTAINER_PATHS.tlsDir}/${TLS_FILES.cert}`);
    assert.equal(h.key, `${CONTAINER_PATHS.tlsDir}/${TLS_FILES.key}`);
    assert.deepEqual(h.actors.map((a) => a.name), original.actors.map((a) => a.name));
    for (const a of h.actors) if (a.model !== undefined) assert.ok(a.model.startsWith(`${CONTAINER_PATHS.modelsDir}/`), `${h.id} ${a.name} reads its model from its volume`);
  }
  assert.equal(rendered.tls.ca, `${CONTAINER_PATHS.tlsDir}/${TLS_FILES.ca}`);
  assert.equal(rendered.tls.insecure, false);
  assert.equal(rendered.http!.listen, `0.0.0.0:${portOf(cluster.http!.listen)}`);
  assert.equal(rendered.http!.users, `${CONTAINER_PATHS.httpDir}/${HTTP_FILES.users}`);
  assert.equal(rendered.http!.secret, `${CONTAINER_PATHS.httpDir}/${HTTP_FILES.secret}`);
  assert.deepEqual(rendered.privacy, cluster.privacy);
});

test("the data volume is mounted at the rendered config's dataDir, the config at the path the container reads, and the Secrets are referenced, never rendered", () => {
  const rendered = renderedConfig();
  assert.deepEqual(ofKind("Secret"), [], "no Secret in the output: certificates and keys are the operator's");
  for (const h of cluster.hospitals) {
    const set = named("StatefulSet", hospitalNames(h.id).statefulSet);
    const pod = set.spec.template.spec;
    const container = nodeContainer(h.id);
    const mount = (volume: string) => container.volumeMounts.find((m: any) => m.name === volume);
    assert.deepEqual(set.spec.volumeClaimTemplates.map((t: any) => t.metadata.name), ["data"]);
    assert.equal(mount("data").mountPath, rendered.hospitals.find((r) => r.id === h.id)!.dataDir);
    assert.deepEqual([mount("config").mountPath, mount("config").subPath], [CONTAINER_PATHS.config, CONFIG_KEY]);
    assert.equal(container.env.find((e: any) => e.name === "FEDROUTER_CONFIG").value, CONTAINER_PATHS.config);
    assert.equal(container.env.find((e: any) => e.name === "FEDROUTER_HOSPITAL").value, h.id);
    assert.equal(mount("tls").mountPath, CONTAINER_PATHS.tlsDir);
    const secrets = pod.volumes.filter((v: any) => v.secret).map((v: any) => v.secret.secretName);
    assert.deepEqual(secrets, h.id === cluster.http!.hospital ? [hospitalNames(h.id).tlsSecret, `${h.id}-http`] : [hospitalNames(h.id).tlsSecret]);
    for (const m of container.volumeMounts) assert.ok(pod.volumes.some((v: any) => v.name === m.name) || m.name === "data", `volume ${m.name} exists`);
    assert.equal(pod.volumes.find((v: any) => v.name === "config").configMap.name, ofKind("ConfigMap")[0].metadata.name);
    // The init container waits for exactly the model directories the rendered config names.
    const models = [...new Set(rendered.hospitals.find((r) => r.id === h.id)!.actors.flatMap((a) => (a.model === undefined ? [] : [a.model])))];
    assert.deepEqual(pod.initContainers[0].command.slice(4), models);
  }
});

test("a trainer with CKKS key files reads them from its hospital's own mounted Secret (<id>-ckks); a hospital without them mounts none", () => {
  const trainer = (id: string, share: boolean) => ({ name: "trainer", model: "models/base", ckks: { bundle: "keys/ckks/federation.bundle", signing: `keys/ckks/${id}.signing`, ...(share ? { share: `keys/ckks/${id}.share` } : {}) } });
  const input = {
    name: "ckks", model: { path: "models/base" },
    hospitals: [
      { id: "hospital-a", region: "eu", address: "127.0.0.1:7101", admin: "127.0.0.1:7201", actors: [{ name: "accountant" }, trainer("hospital-a", true)] },
      { id: "hospital-b", region: "eu", address: "127.0.0.1:7102", admin: "127.0.0.1:7202", actors: [{ name: "accountant" }, trainer("hospital-b", false)] },
      { id: "hospital-c", region: "eu", address: "127.0.0.1:7103", admin: "127.0.0.1:7203", actors: [{ name: "accountant" }] },
    ],
  };
  const out = renderKubernetes(parseCluster(input, "ckks.json"), { image: IMAGE });
  const config = parseCluster(JSON.parse((out.find((m) => m.kind === "ConfigMap") as any).data[CONFIG_KEY]), CONTAINER_PATHS.config);
  const ckksOf = (id: string) => config.hospitals.find((h) => h.id === id)!.actors.find((a) => a.name === "trainer")?.ckks;
  const at = (file: string) => `${CONTAINER_PATHS.ckksDir}/${file}`;
  assert.deepEqual(ckksOf("hospital-a"), { bundle: at(CKKS_FILES.bundle), share: at(CKKS_FILES.share), signing: at(CKKS_FILES.signing) });
  assert.deepEqual(ckksOf("hospital-b"), { bundle: at(CKKS_FILES.bundle), signing: at(CKKS_FILES.signing) }, "without a share it encrypts only");
  for (const id of ["hospital-a", "hospital-b", "hospital-c"]) {
    const pod = (out.find((m) => m.kind === "StatefulSet" && m.metadata.name === id) as any).spec.template.spec;
    const secret = pod.volumes.find((v: any) => v.name === "ckks")?.secret.secretName;
    const mount = pod.containers[0].volumeMounts.find((m: any) => m.name === "ckks");
    if (id === "hospital-c") assert.equal(secret ?? mount, undefined, "no trainer with CKKS: nothing mounted");
    else assert.deepEqual([secret, mount.mountPath, mount.readOnly], [hospitalNames(id).ckksSecret, CONTAINER_PATHS.ckksDir, true]);
  }
  assert.equal(out.some((m) => m.kind === "Secret"), false, "the key shares are never rendered");
});

test("the pods run as uid 10001 without privileges: read-only root filesystem, no capabilities, writable only the data volume and /tmp", () => {
  for (const h of cluster.hospitals) {
    const pod = podOf(h.id).spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.fsGroup, CONTAINER_UID, "the volume is writable by the image's user");
    assert.equal(pod.automountServiceAccountToken, false);
    for (const c of [...pod.containers, ...pod.initContainers]) {
      assert.deepEqual(
        { user: c.securityContext.runAsUser, nonRoot: c.securityContext.runAsNonRoot, readOnly: c.securityContext.readOnlyRootFilesystem, escalation: c.securityContext.allowPrivilegeEscalation, drop: c.securityContext.capabilities.drop },
        { user: CONTAINER_UID, nonRoot: true, readOnly: true, escalation: false, drop: ["ALL"] },
      );
      assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.cpu && c.resources.limits.memory, `${c.name} has requests and limits`);
      const writable = c.volumeMounts.filter((m: any) => m.readOnly !== true).map((m: any) => m.mountPath);
      assert.deepEqual(writable.filter((p: string) => p !== "/tmp"), [CONTAINER_PATHS.dataDir]);
    }
  }
});

test("a single-replica hospital allows no voluntary eviction (maxUnavailable 0) but never blocks a drain once it is unready", () => {
  for (const pdb of ofKind("PodDisruptionBudget")) {
    assert.equal(pdb.spec.maxUnavailable, 0);
    assert.equal(pdb.spec.minAvailable, undefined, "one of the two, never both");
    assert.equal(pdb.spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
  }
});

test("the NetworkPolicy opens a hospital's transport to the other hospitals' pods only, its Admin port to operator pods, HTTP on the front door", () => {
  for (const h of cluster.hospitals) {
    const ingress = named("NetworkPolicy", hospitalNames(h.id).statefulSet).spec.ingress as any[];
    const rule = (port: string) => ingress.find((r) => r.ports.some((p: any) => p.port === port));
    const transport = rule("transport").from[0].podSelector;
    assert.deepEqual(transport.matchExpressions, [{ key: "app.kubernetes.io/instance", operator: "In", values: cluster.hospitals.filter((o) => o.id !== h.id).map((o) => o.id) }]);
    assert.deepEqual(rule("admin").from, [{ podSelector: { matchLabels: { "fedrouter/operator": "true" } } }]);
    assert.equal(rule("http") !== undefined, h.id === cluster.http!.hospital);
    for (const r of ingress) for (const p of r.ports) assert.ok(nodeContainer(h.id).ports.some((c: any) => c.name === p.port), `${h.id}: policy port ${p.port} is a container port`);
  }
});

test("the YAML round-trips: parsing the rendered stream gives back the objects, one document each", () => {
  const docs = parseAllDocuments(manifestsYaml(manifests));
  assert.ok(Array.isArray(docs));
  for (const doc of docs) assert.deepEqual(doc.errors, []);
  assert.deepEqual(docs.map((d) => d.toJS()), JSON.parse(JSON.stringify(manifests)));
});

test("a config Kubernetes cannot name, or a container cannot run, is refused with one line per field", () => {
  const base = { name: "t", hospitals: [{ id: "hospital-a", region: "eu", address: "127.0.0.1:7101", admin: "127.0.0.1:7201" }] };
  const refusal = (input: unknown, options = { image: IMAGE }) => {
    try {
      renderKubernetes(parseCluster(input, "t.json"), options);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems.join("\n");
      if (error instanceof InvalidArgument) return error.message;
      throw error;
    }
    assert.fail("rendered");
  };
  assert.match(refusal({ ...base, hospitals: [{ ...base.hospitals[0], id: "1st-hospital" }] }), /hospitals\[0\]\.id: "1st-hospital" cannot name Kubernetes objects/);
  assert.match(refusal({ ...base, hospitals: [{ ...base.hospitals[0], id: `h${"x".repeat(52)}` }] }), /at most 52/);
  assert.match(refusal({ ...base, tls: { insecure: true } }), /tls\.insecure: a deployment never runs the transport in plaintext/);
  assert.match(refusal({ ...base, hospitals: [{ ...base.hospitals[0], actors: [{ name: "probe", module: "./mine.ts" }] }] }), /hospitals\[0\]\.actors\[0\]\.module: "\.\/mine\.ts" is code of yours, not in the image/);
  assert.match(refusal({ ...base, hospitals: [{ ...base.hospitals[0], actors: [{ name: "shard-executor", model: "a/gpt2" }, { name: "planner", model: "b/gpt2" }] }] }), /models "a\/gpt2" and "b\/gpt2" would both be \/var\/lib\/fedrouter\/models\/gpt2/);
  assert.match(refusal(base, { image: "" }), /^image: /);
  assert.equal(renderKubernetes(parseCluster(base, "t.json"), { image: IMAGE }).filter((m) => m.kind === "StatefulSet").length, 1, "a valid one renders");
});

test("the Dockerfile declares the paths the manifests mount: the config, the data volume, the TLS directory, and runs as uid 10001", () => {
  const dockerfile = readFileSync(`${ROOT}Dockerfile`, "utf8").replace(/\\\n/g, " ");
  const lines = dockerfile.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const env = new Map<string, string>();
  for (const line of lines.filter((l) => /^ENV\s/.test(l))) {
    for (const m of line.slice(4).matchAll(/([A-Z_][A-Z0-9_]*)=("[^"]*"|\S+)/g)) env.set(m[1]!, m[2]!.replace(/^"|"$/g, ""));
  }
  const expand = (value: string) => value.replace(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g, (_, name: string) => env.get(name) ?? `$${name}`);
  assert.equal(env.get("FEDROUTER_CONFIG"), CONTAINER_PATHS.config);
  assert.equal(env.get("FEDROUTER_DATA_DIR"), CONTAINER_PATHS.dataDir);
  assert.equal(env.get("FEDROUTER_TLS_DIR"), CONTAINER_PATHS.tlsDir);
  const volumes = lines.filter((l) => /^VOLUME\s/.test(l)).flatMap((l) => JSON.parse(expand(l.slice(7).trim())) as string[]);
  assert.deepEqual(volumes, [CONTAINER_PATHS.dataDir], "the one volume is the data the StatefulSet's claim mounts");
  // The stage that runs is the last FROM; its USER is the uid the pods insist on.
  const runtime = lines.slice(lines.findLastIndex((l) => /^FROM\s/.test(l)));
  assert.equal(runtime.filter((l) => /^USER\s/.test(l)).at(-1), `USER ${CONTAINER_UID}:${CONTAINER_UID}`);
  assert.deepEqual(JSON.parse(runtime.find((l) => /^ENTRYPOINT\s/.test(l))!.slice(11)), ["node", "--import", "tsx", "bin/fedrouter.ts"]);
  assert.deepEqual(JSON.parse(runtime.find((l) => /^CMD\s/.test(l))!.slice(4)), nodeContainer(cluster.hospitals[0]!.id).args);
  assert.ok(lines.filter((l) => /^FROM\s/.test(l)).length >= 2, "multi-stage: dependencies are installed in a stage of their own");
  assert.match(lines.find((l) => /npm ci/.test(l))!, /--omit=dev/);
});
