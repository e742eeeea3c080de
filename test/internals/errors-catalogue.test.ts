import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as errors from "../../runtime/errors.ts";
import { ERROR_CODES, FedrouterError, InvalidErrorRegistration, RemoteError, RuntimeError, errorFromWire, registeredErrorCodes } from "../../runtime/errors.ts";
import { ACCOUNTANT_ERROR_CODES, AuditStoreError, AuditTrailBroken, InvalidAuditEntry, InvalidPrivacyParameter, UnsupportedPrivacyEvent } from "../../actors/accountant/index.ts";
import { LedgerError } from "../../actors/accountant/ledger-types.ts";
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

/** Each error, sent as its wire form, comes back as its own class with the same code, message and fields. */
function assertRebuilds(instances: readonly FedrouterError[]): void {
  for (const error of instances) {
    const wire = JSON.parse(JSON.stringify(error));
    const rebuilt = errorFromWire(wire);
    assert.equal(rebuilt.constructor, error.constructor, `${error.code} rebuilds as ${error.name}`);
    assert.deepEqual(JSON.parse(JSON.stringify(rebuilt)), wire, `${error.code} keeps its fields`);
  }
}

/** Errors left out of the wire table on purpose arrive as a RemoteError that keeps code, message and fields. */
function assertArriveAsRemote(instances: readonly FedrouterError[]): void {
  for (const error of instances) {
    const wire = JSON.parse(JSON.stringify(error));
    const rebuilt = errorFromWire(wire);
    assert.ok(rebuilt instanceof RemoteError, `${error.name} arrives as a RemoteError`);
    assert.equal(rebuilt.code, error.code);
    assert.equal(rebuilt.message, error.message);
    assert.deepEqual(rebuilt.toJSON(), wire);
  }
}

test("docs/errors.md lists exactly the codes of runtime/errors.ts", () => {
  assert.deepEqual([...documented].sort(), [...ERROR_CODES].sort());
});

test("docs/errors.md lists exactly the Accountant's reply codes and error classes", () => {
  // LedgerError's other codes are reply codes already; its INVALID_LEDGER_REQUEST is answered as INVALID_REQUEST.
  const classes = [new InvalidPrivacyParameter("f", 1, "r"), new UnsupportedPrivacyEvent({ kind: "unsupported", event: { kind: "exponential", epsilon: 1 }, reason: "r" }),
    new InvalidAuditEntry("f", "r"), new AuditStoreError("p", "a", "m", ["accountant"]), new AuditTrailBroken("s", 1, "edited"), new MalformedTrailEntry(1, "f")];
  const ledger = new LedgerError("INVALID_LEDGER_REQUEST", "delta = 2 must lie in (0, 1)", "delta");
  const expected = new Set<string>([...ACCOUNTANT_ERROR_CODES, ...classes.map((e) => e.code), ledger.code]);
  assert.deepEqual(codesIn(accountantSection ?? "").sort(), [...expected].sort());
  assertRebuilds(classes);
  assertArriveAsRemote([ledger]);
});

test("every error class has a code from the catalogue and survives the wire as the same class", () => {
  const classes = (Object.values(errors) as unknown[]).filter(
    (v): v is (new (...args: unknown[]) => RuntimeError) & { name: string } =>
      typeof v === "function" && v.prototype instanceof RuntimeError,
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
  const classes = [new TensorBackendUnavailable([{ name: "cpu", outcome: "failed", reason: "r" }], "cpu"), new UnknownTensorBackend("x", "y"), new SafetensorsError("f", "r", "wte.weight"),
    new TokenizerError("f", "r"), new ModelConfigError("f", "x", "r"), new InvalidModelShape("x", "r"), new InvalidSamplingOption("x", 1, "r")];
  assert.deepEqual(codesIn(sections.get("Tensors and weights") ?? "").sort(), classes.map((e) => e.code).sort());
  assertRebuilds(classes);
});

test("docs/errors.md lists exactly the Planner's reply codes and error classes", async () => {
  const planner = await import("../../actors/planner/index.ts");
  const classes = [new planner.NoExecutors(1), new planner.NoExecutors(4, "eu"), new planner.InvalidCalibration("f", [1, 2], "r", "e-1"), new planner.TooManyExecutors(13, 12), new planner.UnknownExecutor("x"), new planner.InvalidRoundRequest("quorum", "must be ≥ 1")];
  // QUORUM_NOT_MET: a training round's refusal (select-round), a reply value, not a class.
  const refused = planner.selectRound({ round: "r", candidates: [{ hospital: "h", available: false, remainingEpsilon: 1 }], quorum: 1, roundEpsilon: 1 });
  const expected = new Set<string>([...planner.PLANNER_ERROR_CODES, ...classes.map((e) => e.code), refused.type === "refused" ? refused.code : "selected"]);
  assert.deepEqual(codesIn(sections.get("The Planner") ?? "").sort(), [...expected].sort());
  assertRebuilds(classes);
  // NotYourExecutor's code is the runtime's FORBIDDEN: it must not come back as the runtime's Forbidden with invented fields.
  const { NotYourExecutor } = await import("../../actors/planner/errors.ts");
  assertArriveAsRemote([new NotYourExecutor("e-1", "peer:node-b")]);
});

test("docs/errors.md lists exactly the ShardExecutor's step codes and the pipeline's error classes", async () => {
  const executor = await import("../../actors/shard-executor/index.ts");
  const classes = [new executor.PipelineStepFailed("s", "p", "e", "SEQUENCE_LOST", "d", 0), new executor.InvalidGenerateRequest("f", "r"), new executor.PlacementFailed("e", "r")];
  const expected = new Set<string>([...executor.SHARD_EXECUTOR_ERROR_CODES, ...classes.map((e) => e.code)]);
  assert.deepEqual(codesIn(sections.get("The ShardExecutor and pipelines") ?? "").sort(), [...expected].sort());
  assertRebuilds(classes);
});

test("docs/errors.md lists exactly the Aggregator's reply codes and error classes", async () => {
  const aggregator = await import("../../actors/aggregator/index.ts");
  const classes = [new aggregator.InvalidVotes("votes", "r"), new aggregator.InvalidSigma(0, "r"), new aggregator.InvalidThreshold(-1, "r"), new aggregator.InvalidVocabSize(1, "r"),
    new aggregator.InvalidEnsembleRequest("f", "r"), new aggregator.EnsembleUnavailable(0, 1, 2, "r"), new aggregator.VoteRejected("INVALID_SIGMA", "d")];
  const expected = new Set<string>([...aggregator.AGGREGATOR_ERROR_CODES, ...classes.map((e) => e.code)]);
  assert.deepEqual(codesIn(sections.get("The Aggregator") ?? "").sort(), [...expected].sort());
  assertRebuilds(classes);
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
  // The Router answers these as `failed` replies, rebuilt by its RouterClient; raw on the wire they keep their type.
  assertArriveAsRemote(instances);
});

test("every error class in the source has its code in docs/errors.md (codes read from the code itself, issue 12)", () => {
  const root = new URL("../../", import.meta.url).pathname;
  const files: string[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    else if (path.endsWith(".ts")) files.push(path);
  };
  for (const folder of ["errors", "runtime", "privacy", "actors", "cluster", "bin", "native-bindings"]) walk(join(root, folder));
  const codes = new Map<string, string>();
  for (const file of files) {
    for (const match of readFileSync(file, "utf8").matchAll(/^\s+readonly code = "([A-Za-z][A-Za-z0-9_]*)"/gm)) codes.set(match[1]!, file.slice(root.length));
  }
  assert.ok(codes.size > 40, `the scan found the error classes (${codes.size})`);
  const missing = [...codes].filter(([code]) => !catalogue.includes(`\`${code}\``)).map(([code, file]) => `${code} (${file})`);
  assert.deepEqual(missing, [], "codes thrown in the source but missing from docs/errors.md");
});

/** Error classes that never leave their module, so carry no code: each says where it ends. */
const INTERNAL_SIGNALS = new Map([
  ["FrameProblem", "runtime/codec: thrown inside msgpackr's unpack, always turned into a DecodeError's reason"],
  ["AdminRefusal", "runtime/remote/admin-server.ts: not exported, always turned into a gRPC status"],
]);

/** `class X extends Y` in every source file of these folders, with the file it is declared in. */
function declaredClasses(folders: readonly string[]): { name: string; base: string; file: string }[] {
  const root = new URL("../../", import.meta.url).pathname;
  const out: { name: string; base: string; file: string }[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
    else if (path.endsWith(".ts") && !path.endsWith(".d.ts")) {
      for (const m of readFileSync(path, "utf8").matchAll(/^\s*(?:export\s+)?(?:abstract\s+)?class\s+(\w+)\s+extends\s+(\w+)/gm)) out.push({ name: m[1]!, base: m[2]!, file: path });
    }
  };
  for (const folder of folders) walk(join(root, folder));
  return out;
}

test("every error class of errors/, runtime/, actors/, privacy/, cluster/ and native-bindings/ is a FedrouterError: the real classes' prototype chains (issue 12)", async () => {
  const classes = declaredClasses(["errors", "runtime", "actors", "privacy", "cluster", "native-bindings"]);
  // An error class extends Error, a built-in *Error, or another error class (PlannerError, RuntimeError, …).
  const errorNames = new Set<string>();
  for (let grew = true; grew;) {
    grew = false;
    for (const c of classes) {
      if (!errorNames.has(c.name) && (/Error$/.test(c.base) || errorNames.has(c.base))) {
        errorNames.add(c.name);
        grew = true;
      }
    }
  }
  const errorClasses = classes.filter((c) => errorNames.has(c.name) && c.name !== "FedrouterError");
  assert.ok(errorClasses.length > 60, `the scan found the error classes (${errorClasses.length})`);
  const publicApi = await import("../../runtime/index.ts") as Record<string, unknown>;
  const notFedrouter: string[] = [];
  for (const { name, file } of errorClasses) {
    const module = await import(file) as Record<string, unknown>;
    if (INTERNAL_SIGNALS.has(name)) {
      assert.equal(publicApi[name], undefined, `${name} stays internal (${INTERNAL_SIGNALS.get(name)})`);
      continue;
    }
    const Class = module[name];
    assert.equal(typeof Class, "function", `${name} is exported by ${file}`);
    if (!((Class as { prototype: unknown }).prototype instanceof FedrouterError)) notFedrouter.push(`${name} (${file})`);
  }
  assert.deepEqual(notFedrouter, [], "error classes that do not extend FedrouterError");
});

test("every code a module registers for the wire is in docs/errors.md, and registering another class under a taken code is refused", async () => {
  for (const module of ["actors/accountant/index.ts", "actors/aggregator/index.ts", "actors/planner/index.ts", "actors/router/index.ts", "actors/shard-executor/index.ts", "cluster/index.ts", "native-bindings/index.ts"]) {
    await import(`../../${module}`);
  }
  const registered = registeredErrorCodes();
  assert.ok(registered.length > 40, `modules registered their codes (${registered.length})`);
  assert.deepEqual(registered.filter((code) => !catalogue.includes(`\`${code}\``)), [], "registered codes missing from docs/errors.md");
  assert.throws(() => errors.registerErrors({ ASK_TIMEOUT: () => new errors.AskTimeout("t", 1) }), InvalidErrorRegistration);
});

test("docs/errors.md lists exactly the codes of the error base (errors/)", () => {
  assert.deepEqual(codesIn(sections.get("The error base and the wire") ?? ""), [new InvalidErrorRegistration("x", "r").code]);
});
