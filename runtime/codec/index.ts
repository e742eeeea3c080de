/** The codec: frames of msgpack for threads and the network. The only module that imports msgpackr. */
export {
  CODEC_VERSION,
  DEFAULT_CODEC,
  createFrameCodec,
  type DecodeResult,
  type EncodedFrame,
  type FrameCodec,
  type FrameCodecOptions,
} from "./frame-codec.ts";
export { WireRef } from "./extensions.ts";
