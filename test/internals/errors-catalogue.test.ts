import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as errors from "../../runtime/errors.ts";
import { ERROR_CODES, FedrouterError, errorFromWire } from "../../runtime/errors.ts";
import { ACCOUNTANT_ERROR_CODES, AuditStoreError, AuditTrailBroken, InvalidAuditEntry, InvalidPrivacyParameter, UnsupportedPrivacyEvent } from "../../actors/accountant/index.ts";
import { MalformedTrailEntry } from "../../actors/accountant/trail.ts";
import { SafetensorsError } from "../../actors/shard-executor/safetensors.ts";
import { TokenizerError } from "../../actors/shard-executor/tokenizer.ts";
import { InvalidModelShape, InvalidSamplingOption, ModelConfigError } from "../../actors/shard-executor/index.ts";
import { TensorBackendUnavailable, UnknownTensorBackend } from "../../native-bindings/index.ts";

const catalogue = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
const codesIn = (section: string) => [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
const sections = new Map(catalogue.split(/\n## /).map((part, i) => (i === 0 ? ["preamble", part] : [part.slice(0, part.indexOf("\n")), part])));
const runtimeSection = sections.get("The runtime") ?? "";
const accountantSection = sections.get("The Accountant");
const documented = codesIn(runtimeSection!);

test("docs/errors.md lists exactly the codes of runtime/errors.ts", () => {
  assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort());
});

test("docs/errors.md lists exactly the Accountant's reply codes and error classes", () => {
  // LedgerError's codes are reply codes already (its INVALID_LEDGER_REQUEST travels as INVALID_REQUEST).
  const classes = [new InvalidPrivacyParameter("f", 1, "r"), new UnsupportedPrivacyEvent({ kind: "unsupported", event: { kind: "exponential", epsilon: 1 }, reason: "r" }),
    new InvalidAuditEntry("f", "r"), new AuditStoreError("p", "a", "m"), new AuditTrailBroken("s", 1, "edited"), new MalformedTrailEntry(1, "f")];
  const expected = new Set<string>([...ACCOUNTANT_ERROR_CODES, ...classes.map((e) => e.code)]);
  assert.deepEqual(codesIn(accountantSection ?? "").sort(), [...expected].sort());
});

test("every error class has a code from the catalogue and survives the wire as the same class", () => {
  const classes = (Object.values(errors) as unknown[]).filter(
    (v): v is (new (...args: unknown[]) => FedrouterError) & { name: string } =>
      typeof v === "function" && v.prototype instanceof FedrouterError,
  );
  assert.equal(classes.length, ERROR_CODES.length, "one class per code");
  for (const Class of classes) {
    const instance = new Class("7", 5, "9") // "7" and "9" read as strings and as numbers alike;
    assert.ok((ERROR_CODES as readonly string[]).includes(instance.code), `${Class.name} has a catalogued code`);
    const rebuilt = errorFromWire(JSON.parse(JSON.stringify(instance)));
    assert.equal(rebuilt.constructor, Class, `${instance.code} rebuilds as ${Class.name}`);
    assert.equal(rebuilt.message, instance.message, `${instance.code} keeps its fields`);
  }
});

test("docs/errors.md lists exactly the codes of the tensor backend resolver, the model files (weights, tokenizer, config, model init)", () => {
  const classes = [new TensorBackendUnavailable([]), new UnknownTensorBackend("x", "y"), new SafetensorsError("f", "r"), new TokenizerError("f", "r"), new ModelConfigError("f", "x", "r"), new InvalidModelShape("x", "r"), new InvalidSamplingOption("x", 1, "r")];
  assert.deepEqual(codesIn(sections.get("Tensors and weights") ?? "").sort(), classes.map((e) => e.code).sort());
});

test("docs/errors.md lists exactly the Planner's reply codes and error classes", async () => {
  const planner = await import("../../actors/planner/index.ts");
  const classes = [new planner.NoExecutors(1), new planner.InvalidCalibration("f", 1, "r"), new planner.TooManyExecutors(13, 12), new planner.UnknownExecutor("x")];
  const expected = new Set<string>([...planner.PLANNER_ERROR_CODES, ...classes.map((e) => e.code)]);
  assert.deepEqual(codesIn(sections.get("The Planner") ?? "").sort(), [...expected].sort());
});

test("docs/errors.md lists exactly the ShardExecutor's step codes and the pipeline's error classes", async () => {
  const executor = await import("../../actors/shard-executor/index.ts");
  const classes = [new executor.PipelineStepFailed("s", "p", "e", "SEQUENCE_LOST", "d", 0), new executor.InvalidGenerateRequest("f", "r"), new executor.PlacementFailed("e", "r")];
  const expected = new Set<string>([...executor.SHARD_EXECUTOR_ERROR_CODES, ...classes.map((e) => e.code)]);
  assert.deepEqual(codesIn(sections.get("The ShardExecutor and pipelines") ?? "").sort(), [...expected].sort());
});

test("docs/errors.md lists exactly the Aggregator's reply codes and error classes", async () => {
  const aggregator = await import("../../actors/aggregator/index.ts");
  const classes = [new aggregator.InvalidVotes("votes", "r"), new aggregator.InvalidSigma(0, "r"), new aggregator.InvalidThreshold(-1, "r"), new aggregator.InvalidVocabSize(1, "r"),
    new aggregator.InvalidEnsembleRequest("f", "r"), new aggregator.EnsembleUnavailable(0, 1, 2, "r"), new aggregator.VoteRejected("INVALID_SIGMA", "d")];
  const expected = new Set<string>([...aggregator.AGGREGATOR_ERROR_CODES, ...classes.map((e) => e.code)]);
  assert.deepEqual(codesIn(sections.get("The Aggregator") ?? "").sort(), [...expected].sort());
});

test("docs/errors.md lists exactly the HTTP API's error types, each with the status its class answers", async () => {
  const http = await import("../../actors/router/http/index.ts");
  const rows = [...(sections.get("The HTTP API") ?? "").matchAll(/^\| `([a-z_]+)` \| ([0-9, ]+) \| `(\w+)` \|/gm)].map((m) => ({ type: m[1]!, statuses: m[2]!.split(", ").map(Number), className: m[3]! }));
  assert.deepEqual(rows.map((r) => r.type).sort(), [...http.HTTP_ERROR_TYPES].sort());
  const instances = [new http.BudgetExceededError({ remaining: 0, needed: 1 }), new http.UnauthorizedError("m"), new http.ForbiddenError("m"), new http.InvalidRequestError("f", "r"),
    new http.UnavailableError("r"), new http.RateLimitedError(1, 1_000), new http.NotFoundError("m"), new http.InternalError()];
  for (const error of instances) {
    const row = rows.find((r) => r.type === error.code);
    assert.equal(row?.className, error.name, `${error.code} is documented with its class`);
    assert.ok(row?.statuses.includes(error.statusCode), `${error.code} is documented with status ${error.statusCode}`);
  }
});

test("every error class in the source has its code in docs/errors.md (codes read from the code itself, issue 12)", () => {
  const root = new URL("../../", import.meta.url).pathname;
  const files: string[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    else if (path.endsWith(".ts")) files.push(path);
  };
  for (const folder of ["runtime", "privacy", "actors", "cluster", "bin", "native-bindings"]) walk(join(root, folder));
  const codes = new Map<string, string>();
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(/readonly code = "([A-Z][A-Z0-9_]*)"/g)) codes.set(match[1]!, file.slice(root.length));
  }
  assert.ok(codes.size > 40, `the scan found the error classes (${codes.size})`);
  const missing = [...codes].filter(([code]) => !catalogue.includes(`\`${code}\``)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, [], "codes thrown in the source but missing from docs/errors.md");
});
