import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadCluster, parseCluster } from "../../cluster/config.ts";

const valid = () => ({
  name: "t",
  hospitals: [
    { id: "hospital-a", region: "eu", address: "127.0.0.1:7101", admin: "127.0.0.1:7201" },
    { id: "hospital-b", region: "eu", address: "127.0.0.1:7102", admin: "127.0.0.1:7202", actors: [{ name: "visits", placement: "worker" }] },
  ],
});

function problems(mutate: (config: ReturnType<typeof valid>) => unknown): string[] {
  const config = valid();
  const input = mutate(config) ?? config;
  try {
    parseCluster(input, "cluster.config.ts");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return [...error.problems];
  }
  return [];
}

test("the repository's cluster.config.ts is valid: three hospitals on 127.0.0.1, privacy defaults from the seeds", async () => {
  const cluster = await loadCluster(new URL("../../cluster.config.ts", import.meta.url).pathname);
  assert.deepEqual(cluster.hospitals.map((h) => h.id), ["hospital-a", "hospital-b", "hospital-c"]);
  assert.ok(cluster.hospitals.every((h) => h.address.startsWith("127.0.0.1:")));
  assert.equal(new Set(cluster.hospitals.map((h) => h.address)).size, 3);
  assert.deepEqual(cluster.privacy.departments, { emergency: 20, cardiology: 15, radiology: 10, general: 5, research: 2, training: 30 }, "the seeds' departments, and the training budget of federated fine-tuning");
  assert.equal(cluster.privacy.delta, 1e-5);
  assert.equal(cluster.tls.insecure, false, "plaintext is never the default");
});

test("each missing or wrong field gives its own message naming the field", () => {
  const cases: [string, (c: ReturnType<typeof valid>) => unknown, RegExp][] = [
    ["missing name", (c) => ({ ...c, name: undefined }), /^name: is required/],
    ["no hospitals", (c) => ({ ...c, hospitals: [] }), /^hospitals: .*>=1/],
    ["missing id", (c) => void delete (c.hospitals[0] as Partial<(typeof c.hospitals)[0]>).id, /^hospitals\[0\]\.id: is required/],
    ["bad id", (c) => void (c.hospitals[0]!.id = "Hospital A"), /^hospitals\[0\]\.id: must be lowercase .*"Hospital A"/],
    ["missing region", (c) => void delete (c.hospitals[1] as Partial<(typeof c.hospitals)[0]>).region, /^hospitals\[1\]\.region: is required/],
    ["address without port", (c) => void (c.hospitals[1]!.address = "10.0.0.2"), /^hospitals\[1\]\.address: must be host:port.*"10\.0\.0\.2"/],
    ["port out of range", (c) => void (c.hospitals[1]!.admin = "127.0.0.1:70000"), /^hospitals\[1\]\.admin: port must be 1–65535/],
    ["duplicate id", (c) => void (c.hospitals[1]!.id = "hospital-a"), /^hospitals\[1\]\.id: "hospital-a" is also hospitals\[0\]\.id/],
    ["duplicate address", (c) => void (c.hospitals[1]!.address = "127.0.0.1:7101"), /^hospitals\[1\]\.address: 127\.0\.0\.1:7101 is already used by hospitals\[0\]\.address/],
    ["unknown field", (c) => ({ ...c, hospitls: [] }), /^\(root\): unknown field\(s\) "hospitls"/],
    ["bad placement", (c) => void ((c.hospitals[1]!.actors![0] as { placement: string }).placement = "gpu"), /^hospitals\[1\]\.actors\[0\]\.placement: .*"gpu"/],
    ["δ ≥ 1", (c) => ({ ...c, privacy: { delta: 1 } }), /^privacy\.delta: .*<1/],
    ["negative budget", (c) => ({ ...c, privacy: { departments: { radiology: -1 } } }), /^privacy\.departments\.radiology: .*>=0/],
    ["bad time zone", (c) => ({ ...c, privacy: { timeZone: "Mars/Base" } }), /^privacy\.timeZone: is not an IANA time zone/],
    ["bad reset", (c) => ({ ...c, privacy: { reset: "hourly" } }), /^privacy\.reset: .*"hourly"/],
    ["shard-executor without a model", (c) => void (c.hospitals[1]!.actors = [{ name: "shard-executor" } as never]), /^hospitals\[1\]\.actors\[0\]\.name: a shard-executor needs a model: its own \(model\) or the cluster's/],
    ["empty block range", (c) => ({ ...c, model: { path: "m" }, hospitals: [c.hospitals[0], { ...c.hospitals[1], actors: [{ name: "shard-executor", blocks: { from: 2, to: 2 } }] }] }), /^hospitals\[1\]\.actors\[0\]\.blocks: from must be below to/],
  ];
  for (const [what, mutate, expected] of cases) {
    const found = problems(mutate);
    assert.equal(found.length, 1, `${what}: exactly one problem, got ${JSON.stringify(found)}`);
    assert.match(found[0]!, expected, what);
  }
});

test("several problems are all reported at once", () => {
  const found = problems((c) => {
    c.hospitals[0]!.id = "A";
    c.hospitals[1]!.address = "nowhere";
  });
  assert.equal(found.length, 2);
});

test("a config file that cannot be loaded is a ConfigError naming the file", async () => {
  await assert.rejects(loadCluster("/nonexistent/cluster.config.ts"), (error: unknown) => error instanceof ConfigError && error.message.startsWith("/nonexistent/cluster.config.ts"));
});

test("http.ensemble.confident turns on Confident-GNMax: threshold ≥ 0 votes, sigma1 > 0, each problem naming its field (issue 14)", () => {
  const withEnsemble = (ensemble: unknown) => (c: ReturnType<typeof valid>) => ({
    ...c, hospitals: [{ ...c.hospitals[0]!, actors: [{ name: "accountant" }, { name: "aggregator" }] }, c.hospitals[1]], http: { hospital: "hospital-a", ensemble },
  });
  const config = valid();
  const parsed = parseCluster(withEnsemble({ sigma: 4, k: 3, confident: { threshold: 2, sigma1: 1 } })(config), "cluster.config.ts");
  assert.deepEqual(parsed.http?.ensemble, { sigma: 4, k: 3, confident: { threshold: 2, sigma1: 1 } });
  assert.equal(parseCluster(withEnsemble({ sigma: 4 })(valid()), "cluster.config.ts").http?.ensemble.confident, undefined, "off unless configured");
  for (const [confident, expected] of [
    [{ threshold: 2 }, /^http\.ensemble\.confident\.sigma1: /],
    [{ threshold: -1, sigma1: 1 }, /^http\.ensemble\.confident\.threshold: .*>=0/],
    [{ threshold: 2, sigma1: 0 }, /^http\.ensemble\.confident\.sigma1: .*>0/],
    [{ threshold: 2, sigma1: 1, t: 2 }, /^http\.ensemble\.confident: unknown field/],
  ] as const) {
    const found = problems(withEnsemble({ sigma: 4, confident }));
    assert.equal(found.length, 1, `${JSON.stringify(confident)}: ${JSON.stringify(found)}`);
    assert.match(found[0]!, expected, JSON.stringify(confident));
  }
});
