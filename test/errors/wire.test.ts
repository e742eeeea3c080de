import { test } from "node:test";
import assert from "node:assert/strict";
import { FedrouterError, InvalidErrorRegistration, RemoteError, WireFields, errorFromWire, registerErrors } from "../../errors/index.ts";
import { AskTimeout, Forbidden } from "../../runtime/errors.ts";

class ShelfEmpty extends FedrouterError {
  readonly code = "TEST_SHELF_EMPTY";
  constructor(readonly aisle: string, readonly restockInMs: number, readonly note?: string) {
    super(`aisle ${aisle} is empty; restocked in ${restockInMs} ms${note === undefined ? "" : ` (${note})`}`);
  }
}
const shelfEmpty = (f: WireFields) => new ShelfEmpty(f.string("aisle"), f.number("restockInMs"), f.optionalString("note"));
registerErrors({ TEST_SHELF_EMPTY: shelfEmpty });

const overTheWire = (error: FedrouterError) => errorFromWire(JSON.parse(JSON.stringify(error)));

test("a registered code comes back as its class, with its message and fields", () => {
  for (const sent of [new ShelfEmpty("7", 250), new ShelfEmpty("7", 250, "late truck")]) {
    const rebuilt = overTheWire(sent);
    assert.ok(rebuilt instanceof ShelfEmpty);
    assert.equal(rebuilt.message, sent.message);
    assert.deepStrictEqual(rebuilt.toJSON(), sent.toJSON());
  }
});

test("an unregistered code comes back as a RemoteError that keeps code, message and every field, and crosses a further hop unchanged", () => {
  class Unlisted extends FedrouterError {
    readonly code = "TEST_UNLISTED";
    constructor(readonly count: number, readonly detail: { why: string }) {
      super(`unlisted ${count}`);
    }
  }
  const rebuilt = overTheWire(new Unlisted(3, { why: "no registration" }));
  assert.ok(rebuilt instanceof RemoteError && rebuilt instanceof FedrouterError);
  assert.equal(rebuilt.code, "TEST_UNLISTED");
  assert.equal(rebuilt.message, "unlisted 3");
  assert.equal(rebuilt.name, "RemoteError");
  assert.deepStrictEqual(rebuilt.fields, { code: "TEST_UNLISTED", message: "unlisted 3", count: 3, detail: { why: "no registration" } });
  assert.deepStrictEqual(JSON.parse(JSON.stringify(overTheWire(rebuilt))), rebuilt.toJSON(), "a second hop changes nothing");
});

test("a code two classes share, or fields the class would render into another message, arrive as a RemoteError, never with invented fields", () => {
  // Another module's FORBIDDEN, with fields the runtime's Forbidden does not have.
  const foreign = errorFromWire({ code: "FORBIDDEN", message: "peer:b may only join its own executors, not e-1", executor: "e-1", sender: "peer:b" });
  assert.ok(foreign instanceof RemoteError && !(foreign instanceof Forbidden));
  assert.equal(foreign.code, "FORBIDDEN");
  assert.equal(foreign.message, "peer:b may only join its own executors, not e-1");
  // The runtime's own still comes back as itself.
  assert.ok(overTheWire(new Forbidden("fed://n/user/a", "reserve", "peer:b")) instanceof Forbidden);
  // A peer of another version whose message reads differently.
  const skewed = errorFromWire({ ...new AskTimeout("fed://n/user/a", 50).toJSON(), message: "fed://n/user/a timed out (50 ms)" });
  assert.ok(skewed instanceof RemoteError && skewed.code === "ASK_TIMEOUT");
});

test("a factory that throws on the fields yields a RemoteError", () => {
  registerErrors({ TEST_PICKY: (f) => new ShelfEmpty(String((f.value("aisle") as { id: string }).id), 0) });
  const rebuilt = errorFromWire({ code: "TEST_PICKY", message: "picky" });
  assert.ok(rebuilt instanceof RemoteError && rebuilt.code === "TEST_PICKY" && rebuilt.message === "picky");
});

test("a value without a code becomes a plain Error (it has no code to lose); a __proto__ field pollutes nothing", () => {
  const plain = errorFromWire({ name: "TypeError", message: "bad input" });
  assert.equal(plain.constructor, Error);
  assert.equal(plain.message, "bad input");
  assert.equal(errorFromWire("nonsense").message, "remote failure");
  const hostile = errorFromWire(JSON.parse('{"code":"TEST_HOSTILE","message":"m","__proto__":{"polluted":true}}'));
  assert.ok(hostile instanceof RemoteError);
  assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  assert.equal(Object.getPrototypeOf(hostile), RemoteError.prototype);
});

test("registering the same factory again is a no-op; another class under a taken code, or a non-code, is refused", () => {
  registerErrors({ TEST_SHELF_EMPTY: shelfEmpty });
  assert.throws(() => registerErrors({ TEST_SHELF_EMPTY: (f) => new ShelfEmpty(f.string("aisle"), 0) }), (error: unknown) =>
    error instanceof InvalidErrorRegistration && error.code === "INVALID_ERROR_REGISTRATION" && error.errorCode === "TEST_SHELF_EMPTY");
  assert.throws(() => registerErrors({ ASK_TIMEOUT: shelfEmpty }), InvalidErrorRegistration, "the runtime's codes are taken");
  assert.throws(() => registerErrors({ "not a code": shelfEmpty }), InvalidErrorRegistration);
});
