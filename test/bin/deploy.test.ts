import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { loadCluster, parseCluster, renderKubernetes } from "../../cluster/index.ts";
import { CONTAINER_PATHS } from "../../cluster/container-config.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "bin/fedrouter.ts", "deploy", ...args], { cwd: ROOT, encoding: "utf8" });

test("`fedrouter deploy k8s` prints the manifests renderKubernetes makes, as YAML, and refuses a bad option with exit 2 naming it", { timeout: 60_000 }, async () => {
  const cluster = await loadCluster(`${ROOT}cluster.config.ts`);
  const ok = run(["k8s", "--image", "registry.example.org/fedrouter:0.1.0", "--namespace", "fed-test"]);
  assert.equal(ok.status, 0, ok.stderr);
  const expected = renderKubernetes(cluster, { image: "registry.example.org/fedrouter:0.1.0", namespace: "fed-test" });
  assert.deepEqual(parseAllDocuments(ok.stdout).map((d) => d.toJS()), JSON.parse(JSON.stringify(expected)));
  assert.doesNotMatch(ok.stdout, /[&*]a\d/, "written out in full, without YAML anchors");
  const bad = run(["k8s", "--namespace", "Not_A_Label"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--namespace: "Not_A_Label" is not a DNS label/);
});

test("`fedrouter deploy config` keeps the config's addresses, binds every node to 0.0.0.0 and puts every path at the image's mount points", { timeout: 60_000 }, async () => {
  const cluster = await loadCluster(`${ROOT}cluster.config.ts`);
  const out = run(["config"]);
  assert.equal(out.status, 0, out.stderr);
  const rendered = parseCluster(JSON.parse(out.stdout), CONTAINER_PATHS.config);
  assert.deepEqual(rendered.hospitals.map((h) => [h.address, h.admin]), cluster.hospitals.map((h) => [h.address, h.admin]));
  for (const h of rendered.hospitals) {
    assert.equal(h.listenHost, "0.0.0.0");
    assert.equal(h.dataDir, CONTAINER_PATHS.dataDir);
    assert.ok([h.cert, h.key, rendered.tls.ca].every((p) => p!.startsWith(`${CONTAINER_PATHS.tlsDir}/`)));
  }
  assert.ok([rendered.http!.users, rendered.http!.secret].every((p) => p.startsWith(`${CONTAINER_PATHS.httpDir}/`)));
});
