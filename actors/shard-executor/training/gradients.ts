/**
 * Gradient functions for the kernels the training forward uses, registered with tfjs-core when
 * it has none. Needed because the only copies of tfjs-core that Node can load (its CommonJS
 * bundles, which native-bindings imports) register no gradients: tfjs-core ships them as
 * `dist/register_all_gradients.js`, an ES module with extensionless imports that Node cannot
 * resolve, and the `@tensorflow/tfjs` umbrella, whose Node bundle includes them, is not a
 * dependency. Each function is the one in tfjs-core 4.22's `src/gradients/<Kernel>_grad.ts`
 * (Apache-2.0), written with the runtime's ops. Never replaces a gradient already registered:
 * when native-bindings registers tfjs's own, these step aside.
 */
import type { TensorRuntime } from "../../../native-bindings/index.ts";

type Tf = TensorRuntime["tf"];
type Tensor = ReturnType<Tf["tensor"]>;
type Attrs = Record<string, unknown>;
type GradFunc = (dy: Tensor, saved: Tensor[], attrs: Attrs) => Record<string, () => Tensor>;
interface Config { inputsToSave?: string[]; outputsToSave?: boolean[]; gradFunc: GradFunc }

/** Registers the missing ones; returns the kernels it registered (empty on a second call). */
export function registerTrainingGradients(tf: Tf): string[] {
  const configs = gradientConfigs(tf);
  const added: string[] = [];
  for (const [kernelName, config] of Object.entries(configs)) {
    if (tf.getGradient(kernelName) !== undefined) continue;
    tf.registerGradient({ kernelName, ...config } as never);
    added.push(kernelName);
  }
  return added;
}

function gradientConfigs(tf: Tf): Record<string, Config> {
  const { backend_util: bu } = tf;
  /** dy summed over the axes `shape` was broadcast along, in `shape` (tfjs's broadcast rule). */
  const unbroadcast = (dy: Tensor, shape: number[], outShape: number[]): Tensor => {
    const axes = bu.getReductionAxes(shape, outShape);
    return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, shape);
  };
  const binary = (da: (dy: Tensor, a: Tensor, b: Tensor) => Tensor, db: (dy: Tensor, a: Tensor, b: Tensor) => Tensor): Config => ({
    inputsToSave: ["a", "b"],
    gradFunc: (dy, [a, b]) => {
      const out = bu.assertAndGetBroadcastShape(a!.shape, b!.shape);
      return { a: () => unbroadcast(da(dy, a!, b!), a!.shape, out), b: () => unbroadcast(db(dy, a!, b!), b!.shape, out) };
    },
  });
  /** dy of a reduction, broadcast back over x's reduced axes. */
  const expand = (dy: Tensor, x: Tensor, axis: unknown): Tensor => {
    const shape = x.shape.slice();
    for (const a of tf.util.parseAxisParam(axis as number | number[], x.shape)) shape[a] = 1;
    return tf.mul(tf.reshape(dy, shape), tf.ones(x.shape, "float32"));
  };
  return {
    Add: binary((dy) => dy, (dy) => dy),
    Sub: binary((dy) => dy, (dy) => tf.neg(dy)),
    Multiply: binary((dy, _a, b) => tf.mul(dy, b), (dy, a) => tf.mul(dy, a)),
    RealDiv: binary((dy, _a, b) => tf.div(dy, b), (dy, a, b) => tf.neg(tf.div(tf.mul(dy, a), tf.square(b)))),
    SquaredDifference: binary((dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))), (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a)))),
    Cast: { gradFunc: (dy) => ({ x: () => tf.clone(dy) }) },
    Identity: { gradFunc: (dy) => ({ x: () => tf.clone(dy) }) },
    Neg: { gradFunc: (dy) => ({ x: () => tf.neg(dy) }) },
    Square: { inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy, tf.mul(x!, 2)) }) },
    Rsqrt: { inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.neg(tf.div(dy, tf.mul(tf.pow(x!, 1.5), 2))) }) },
    Sigmoid: { outputsToSave: [true], gradFunc: (dy, [y]) => ({ x: () => tf.mul(dy, tf.mul(y!, tf.sub(1, y!))) }) },
    Softmax: {
      outputsToSave: [true],
      gradFunc: (dy, [y], attrs) => {
        const dyTimesY = tf.mul(dy, y!);
        return { logits: () => tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [attrs.dim as number], true), y!)) };
      },
    },
    Sum: { inputsToSave: ["x"], gradFunc: (dy, [x], attrs) => ({ x: () => expand(dy, x!, attrs.axis) }) },
    Mean: {
      inputsToSave: ["x"],
      gradFunc: (dy, [x], attrs) => {
        const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x!.shape);
        const reduceSize = axes.reduce((n, a) => n * x!.shape[a]!, 1);
        return { x: () => tf.div(expand(dy, x!, attrs.axis), reduceSize) };
      },
    },
    BatchMatMul: {
      // tfjs's four cases, with each transpose done by tf.transpose before a plain matMul: the wasm
      // backend's matMul with a transpose flag is 4–5× slower (measured: 230 against 56 ms for the
      // demo's head, [63 × 64]·[64 × 50,257]), and the head's backward dominates a training step.
      inputsToSave: ["a", "b"],
      gradFunc: (dy, [a, b], attrs) => {
        const ta = attrs.transposeA === true, tb = attrs.transposeB === true;
        const mm = (x: Tensor, y: Tensor, tx: boolean, ty: boolean): Tensor => tf.matMul(tx ? lastTwoSwapped(tf, x) : x, ty ? lastTwoSwapped(tf, y) : y);
        if (!ta && !tb) return { a: () => mm(dy, b!, false, true), b: () => mm(a!, dy, true, false) };
        if (!ta && tb) return { a: () => mm(dy, b!, false, false), b: () => mm(dy, a!, true, false) };
        if (ta && !tb) return { a: () => mm(b!, dy, false, true), b: () => mm(a!, dy, false, false) };
        return { a: () => mm(b!, dy, true, true), b: () => mm(dy, a!, true, true) };
      },
    },
    Reshape: { inputsToSave: ["x"], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy, x!.shape) }) },
    Transpose: { gradFunc: (dy, _saved, attrs) => ({ x: () => tf.transpose(dy, bu.getUndoAxesPermutation(attrs.perm as number[])) }) },
    Unpack: { gradFunc: (dy, _saved, attrs) => ({ value: () => tf.stack(dy as unknown as Tensor[], attrs.axis as number) }) },
    Slice: {
      inputsToSave: ["x"],
      gradFunc: (dy, [x], attrs) => {
        const begin = attrs.begin as number[], size = attrs.size as number[];
        const paddings = x!.shape.map((n, i) => [begin[i]!, n - begin[i]! - (size[i] === -1 ? n - begin[i]! : size[i]!)] as [number, number]);
        return { x: () => tf.pad(dy, paddings) };
      },
    },
    Tile: {
      inputsToSave: ["x"],
      gradFunc: (dy, [x], attrs) => {
        // dy is [r0·s0, r1·s1, …]: as [r0, s0, r1, s1, …], summed over the r axes.
        const reps = attrs.reps as number[];
        const split = x!.shape.flatMap((s, i) => [reps[i]!, s]);
        return { x: () => tf.sum(tf.reshape(dy, split), reps.map((_, i) => 2 * i)) };
      },
    },
  };
}

/** x with its last two axes swapped. */
export function lastTwoSwapped(tf: Tf, x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1]!, perm[perm.length - 2]!];
  return tf.transpose(x, perm);
}
