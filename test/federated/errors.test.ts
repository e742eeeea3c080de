import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { errorFromWire } from "../../errors/index.ts";
import { ChunkRejected, InvalidModelUpdate, InvalidRoundTransition, InvalidTrainingParameter, TooManyByzantine, UnknownRound } from "../../federated/index.ts";

const instances = [
  new InvalidModelUpdate("update[3]", "is NaN or infinite"),
  new InvalidTrainingParameter("clipNorm", 0, "must be > 0"),
  new TooManyByzantine("krum", 4, 1, 5),
  new ChunkRejected("r-1", "index", "duplicate"),
  new InvalidRoundTransition("r-1", "collecting", "apply", "only an aggregated round is applied"),
  new UnknownRound("r-9"),
];

test("every federated error crosses the wire and comes back as its own class with its fields", () => {
  for (const error of instances) {
    const wire = JSON.parse(JSON.stringify(error));
    const rebuilt = errorFromWire(wire);
    assert.equal(rebuilt.constructor, error.constructor, `${error.code} rebuilds as ${error.name}`);
    assert.deepEqual(JSON.parse(JSON.stringify(rebuilt)), wire);
  }
});

test("docs/errors.md's federated section lists exactly these codes", () => {
  const catalogue = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const section = catalogue.split(/\n## /).find((part) => part.startsWith("Federated training")) ?? "";
  const codes = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(codes.sort(), instances.map((e) => e.code).sort());
});
