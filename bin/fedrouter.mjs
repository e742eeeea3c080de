#!/usr/bin/env node
// The `fedrouter` command. It runs from the TypeScript sources through tsx, so that a clean
// clone works after `npm install` with no build step.
import { register } from "tsx/esm/api";

register();
await import("./fedrouter.ts");
