/**
 * The tensor engine: tfjs-core with a backend chosen at start, best first — tfjs-node-gpu
 * (CUDA), tfjs-node (libtensorflow), the wasm backend (shipped inside its npm package, SIMD
 * where the CPU has it), then the plain JavaScript cpu backend. The only module in fedrouter that
 * imports tfjs packages. Never picks a backend silently: the result says which one was chosen and
 * why each better one was not (not installed, or failed to load, with the loader's reason).
 *
 * tfjs-node and tfjs-node-gpu download libtensorflow at install time, so they are optional: a
 * CUDA host installs `@tensorflow/tfjs-node-gpu` next to fedrouter and this resolver finds it.
 * Force one with `FEDROUTER_TF_BACKEND` (node-gpu | node | wasm | cpu) or `resolveTensorBackend({ prefer })`.
 */
import * as tf from "@tensorflow/tfjs-core";
// errors/ is the one module of ours this folder imports: it imports nothing, and gives these
// errors the shared base (a code, rebuilt after crossing a thread).
import { FedrouterError, registerErrors } from "../../errors/index.ts";

export type TensorBackendName = "node-gpu" | "node" | "wasm" | "cpu";

/** Best first. `tfjsName` is the name the package registers with tfjs-core. */
export const TENSOR_BACKENDS: readonly { readonly name: TensorBackendName; readonly packageName: string; readonly tfjsName: string }[] = [
  { name: "node-gpu", packageName: "@tensorflow/tfjs-node-gpu", tfjsName: "tensorflow" },
  { name: "node", packageName: "@tensorflow/tfjs-node", tfjsName: "tensorflow" },
  { name: "wasm", packageName: "@tensorflow/tfjs-backend-wasm", tfjsName: "wasm" },
  { name: "cpu", packageName: "@tensorflow/tfjs-backend-cpu", tfjsName: "cpu" },
];

export const TENSOR_BACKEND_ENV = "FEDROUTER_TF_BACKEND";

export interface BackendAttempt {
  readonly name: TensorBackendName;
  readonly outcome: "chosen" | "not installed" | "failed" | "not tried";
  readonly reason?: string;
}

export interface TensorRuntime {
  /** tfjs-core, with the chosen backend active. */
  readonly tf: typeof tf;
  readonly backend: TensorBackendName;
  /** Every backend in order of preference and what happened to it. */
  readonly attempts: readonly BackendAttempt[];
  /** Whether the wasm backend runs with SIMD (false for the other backends). */
  readonly simd: boolean;
}

/** No backend could be loaded (or the one forced could not): the attempts say why. */
export class TensorBackendUnavailable extends FedrouterError {
  readonly code = "TENSOR_BACKEND_UNAVAILABLE";
  constructor(readonly attempts: readonly BackendAttempt[], readonly forced?: TensorBackendName) {
    super(`${forced ? `the forced tensor backend "${forced}" could not be loaded` : "no tensor backend could be loaded"}: ${attempts.filter((a) => a.outcome !== "not tried").map((a) => `${a.name}: ${a.outcome}${a.reason ? ` (${a.reason})` : ""}`).join("; ")}`);
  }
}

/** A backend name that is not one of TENSOR_BACKENDS (from config or the environment). */
export class UnknownTensorBackend extends FedrouterError {
  readonly code = "UNKNOWN_TENSOR_BACKEND";
  constructor(readonly value: string, readonly source: string) {
    super(`${source} = "${value}" is not a tensor backend (expected one of ${TENSOR_BACKENDS.map((b) => b.name).join(", ")})`);
  }
}

registerErrors({
  TENSOR_BACKEND_UNAVAILABLE: (f) => new TensorBackendUnavailable(f.value("attempts") as BackendAttempt[], f.optionalString("forced") as TensorBackendName | undefined),
  UNKNOWN_TENSOR_BACKEND: (f) => new UnknownTensorBackend(f.string("value"), f.string("source")),
});

export interface ResolveOptions {
  /** Use exactly this backend (overrides the environment); fail if it cannot load. */
  readonly prefer?: TensorBackendName;
  /** Where FEDROUTER_TF_BACKEND is read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Loads the best available backend and makes it tfjs-core's active one.
 * @example
 * const { tf, backend, attempts } = await resolveTensorBackend();
 * console.log(backend, attempts.map((a) => `${a.name}: ${a.outcome}`)); // "wasm" here: node-gpu and node not installed
 */
export function resolveTensorBackend(options: ResolveOptions = {}): Promise<TensorRuntime> {
  // tfjs-core has one active backend per thread, and two setBackend calls racing leave one of
  // them failing ("could not initialise"): resolutions in one thread run one after another.
  const next = serialised.then(() => resolveNow(options));
  serialised = next.catch(() => undefined);
  return next;
}

let serialised: Promise<unknown> = Promise.resolve();

async function resolveNow(options: ResolveOptions): Promise<TensorRuntime> {
  const fromEnv = (options.env ?? process.env)[TENSOR_BACKEND_ENV];
  const forced = options.prefer ?? (fromEnv ? parseBackendName(fromEnv, TENSOR_BACKEND_ENV) : undefined);
  if (options.prefer !== undefined) parseBackendName(options.prefer, "prefer");
  const candidates = forced === undefined ? TENSOR_BACKENDS : TENSOR_BACKENDS.filter((b) => b.name === forced);
  const attempts: BackendAttempt[] = [];
  for (const candidate of candidates) {
    const outcome = await tryBackend(candidate);
    attempts.push(outcome);
    if (outcome.outcome === "chosen") {
      for (const rest of TENSOR_BACKENDS) if (!attempts.some((a) => a.name === rest.name)) attempts.push({ name: rest.name, outcome: "not tried", ...(forced ? { reason: `${TENSOR_BACKEND_ENV}/prefer chose ${forced}` } : {}) });
      attempts.sort((a, b) => order(a.name) - order(b.name));
      const simd = candidate.name === "wasm" && tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
      return { tf, backend: candidate.name, attempts, simd };
    }
  }
  throw new TensorBackendUnavailable(attempts, forced);
}

function order(name: TensorBackendName): number {
  return TENSOR_BACKENDS.findIndex((b) => b.name === name);
}

export function parseBackendName(value: string, source: string): TensorBackendName {
  const known = TENSOR_BACKENDS.find((b) => b.name === value);
  if (known === undefined) throw new UnknownTensorBackend(value, source);
  return known.name;
}

async function tryBackend(candidate: (typeof TENSOR_BACKENDS)[number]): Promise<BackendAttempt> {
  try {
    await import(candidate.packageName); // registers the backend with tfjs-core
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    if ((code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") && message.includes(candidate.packageName)) {
      return { name: candidate.name, outcome: "not installed", reason: `npm install ${candidate.packageName} to use it` };
    }
    return { name: candidate.name, outcome: "failed", reason: firstLine(message) };
  }
  try {
    if (!(await tf.setBackend(candidate.tfjsName))) return { name: candidate.name, outcome: "failed", reason: `tfjs could not initialise the "${candidate.tfjsName}" backend` };
    await tf.ready();
    return { name: candidate.name, outcome: "chosen" };
  } catch (error) {
    return { name: candidate.name, outcome: "failed", reason: firstLine(error instanceof Error ? error.message : String(error)) };
  }
}

const firstLine = (text: string): string => text.split("\n")[0]!.slice(0, 300);

/** One line for the logs: the chosen backend, and why each better one was passed over. */
export function describeBackend(runtime: TensorRuntime): string {
  const passed = runtime.attempts.filter((a) => order(a.name) < order(runtime.backend));
  return `tensor backend: ${runtime.backend}${runtime.backend === "wasm" ? (runtime.simd ? " (SIMD)" : " (no SIMD)") : ""}` +
    (passed.length ? `; passed over ${passed.map((a) => `${a.name} (${a.outcome}${a.reason ? `: ${a.reason}` : ""})`).join(", ")}` : "");
}
