import { test } from "node:test";
import assert from "node:assert/strict";
import { clientErrorOf } from "../../../../actors/router/http/client-errors.ts";

const parserError = (code: string, reason?: string) => Object.assign(new Error(`Parse Error: ${reason ?? code}`), { code, ...(reason === undefined ? {} : { reason }) });

test("each refusal of Node's HTTP server maps to invalid_request with its status, naming the limit or the parser's reason", () => {
  const cases: [ReturnType<typeof parserError>, number, RegExp][] = [
    [parserError("HPE_HEADER_OVERFLOW", "Header overflow"), 431, /headers are larger than 16384 bytes/],
    [parserError("ERR_HTTP_REQUEST_TIMEOUT"), 408, /did not arrive whole within/],
    [parserError("HPE_CHUNK_EXTENSIONS_OVERFLOW", "Chunk extensions overflow"), 413, /chunk extensions/],
    [parserError("HPE_INVALID_HEADER_TOKEN", "Unexpected whitespace after header value"), 400, /not valid HTTP\/1\.1 \(HPE_INVALID_HEADER_TOKEN: Unexpected whitespace after header value\)/],
    [parserError("HPE_SOMETHING_NEW"), 400, /not valid HTTP\/1\.1 \(HPE_SOMETHING_NEW\)/],
  ];
  for (const [error, status, message] of cases) {
    const failure = clientErrorOf(error, 16_384);
    assert.equal(failure.code, "invalid_request");
    assert.equal(failure.statusCode, status, error.code);
    assert.match(failure.message, message);
  }
});

test("a parser's reason is cut short, so no refused bytes can ride along in a long one", () => {
  const failure = clientErrorOf(parserError("HPE_USER", "x".repeat(5_000)), 16_384);
  assert.ok(failure.message.length < 300, String(failure.message.length));
});
