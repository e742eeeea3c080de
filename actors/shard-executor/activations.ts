/**
 * Hidden states on the wire between pipeline stages: float32 as is, or IEEE binary16 halves
 * (half the bytes on a hospital link, about 3 significant digits — GPT-2's activations fit,
 * and the next stage computes in float32 again). Pure.
 */
import type { Activations } from "./protocol.ts";
import { floatToHalf, halfToFloat } from "./safetensors.ts";

export function encodeActivations(hidden: Float32Array, dtype: "f32" | "f16"): Activations {
  if (dtype === "f32") return { dtype, data: hidden };
  const data = new Uint16Array(hidden.length);
  for (let i = 0; i < hidden.length; i++) data[i] = floatToHalf(hidden[i]!);
  return { dtype, data };
}

export function decodeActivations(activations: Activations): Float32Array {
  if (activations.dtype === "f32") return activations.data;
  const out = new Float32Array(activations.data.length);
  for (let i = 0; i < out.length; i++) out[i] = halfToFloat(activations.data[i]!);
  return out;
}
