import { test } from "node:test";
import assert from "node:assert/strict";
import { FedrouterError } from "../../errors/index.ts";

// The doc example of errors/fedrouter-error.ts, run.
class UnknownWard extends FedrouterError {
  readonly code = "UNKNOWN_WARD";
  constructor(readonly ward: string) {
    super(`no ward ${ward}; check the hospital's ward list`);
  }
}

test("a FedrouterError is an Error named for its class, and its wire form is code, message and own fields", () => {
  const error = new UnknownWard("7b");
  assert.ok(error instanceof Error);
  assert.equal(error.name, "UnknownWard");
  assert.match(String(error.stack), /^UnknownWard: no ward 7b/);
  assert.deepStrictEqual(error.toJSON(), { code: "UNKNOWN_WARD", message: "no ward 7b; check the hospital's ward list", ward: "7b" });
});

test("the wire form leaves out unset fields, functions and the stack", () => {
  class Optional extends FedrouterError {
    readonly code = "OPTIONAL";
    readonly callback = () => 1;
    constructor(readonly region?: string) {
      super("optional");
    }
  }
  assert.deepStrictEqual(new Optional().toJSON(), { code: "OPTIONAL", message: "optional" });
  assert.deepStrictEqual(new Optional("eu").toJSON(), { code: "OPTIONAL", message: "optional", region: "eu" });
  assert.ok(!JSON.stringify(new Optional()).includes("stack"));
});
