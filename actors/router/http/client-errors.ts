/**
 * What Node's HTTP server refuses before fastify sees a request — bytes that are not HTTP/1.1
 * (bare LF, obs-fold, Content-Length with Transfer-Encoding), headers past `maxHeaderSize`, a
 * request that does not arrive in time, an `Expect` other than 100-continue — answered in the
 * error table's shape, `{ "error": { "type", "message" } }`, like every other error. It never
 * echoes the bytes it refused: they may be kilobytes, or a prompt.
 *
 *   fastify({ clientErrorHandler: answerClientError });
 *   app.server.on("checkExpectation", answerExpectation);
 */
import { maxHeaderSize, STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { errorBody, InvalidRequestError } from "./errors.ts";

/** What Node's parser reports: `code` (HPE_… from llhttp, or ERR_HTTP_REQUEST_TIMEOUT) and llhttp's fixed `reason`. */
type ParserError = Error & { readonly code?: unknown; readonly reason?: unknown };

/** llhttp's reasons are short fixed strings; the cut keeps anything else from riding along. */
const MAX_REASON_CHARS = 100;

/** The error table's answer to a request Node's server refused (the statuses Node itself would send). */
export function clientErrorOf(error: ParserError, headerLimitBytes: number = maxHeaderSize): InvalidRequestError {
  const code = typeof error.code === "string" ? error.code.slice(0, 40) : "parse error";
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return new InvalidRequestError("", `the request line and headers are larger than ${headerLimitBytes} bytes; send fewer or shorter headers`, 431);
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new InvalidRequestError("", "the request did not arrive whole within the server's time limit; send it again", 408);
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return new InvalidRequestError("", "the body's chunk extensions are larger than the server accepts; send the body without them", 413);
    default: {
      const reason = typeof error.reason === "string" && error.reason !== "" ? `: ${error.reason.slice(0, MAX_REASON_CHARS)}` : "";
      return new InvalidRequestError("", `the request is not valid HTTP/1.1 (${code}${reason}); send CRLF line endings, each header on one line, and Content-Length or Transfer-Encoding, not both`);
    }
  }
}

/** The whole HTTP/1.1 response for `failure`, for a socket no ServerResponse owns. */
function rawResponse(failure: InvalidRequestError): string {
  const body = JSON.stringify(errorBody(failure));
  return `HTTP/1.1 ${failure.statusCode} ${STATUS_CODES[failure.statusCode] ?? "Error"}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * fastify's `clientErrorHandler`: answers the parser's refusal in the error table's shape and
 * closes the connection (the parser cannot go on after an error).
 */
export function answerClientError(error: ParserError, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  // A response still owns the socket (a pipelined request behind one being answered): bytes
  // written now would land inside it, so close without a word, as Node does.
  const answering = (socket as Socket & { _httpMessage?: unknown })._httpMessage != null;
  if (socket.writable && !answering) socket.write(rawResponse(clientErrorOf(error)));
  socket.destroy();
}

/**
 * The server's `checkExpectation` listener: an `Expect` other than 100-continue is 417 (as Node
 * answers it, with an empty body, when nobody listens).
 */
export function answerExpectation(request: IncomingMessage, response: ServerResponse): void {
  const failure = new InvalidRequestError("Expect", "only 100-continue is supported; send the request without this header", 417);
  const body = JSON.stringify(errorBody(failure));
  response.writeHead(failure.statusCode, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), connection: "close" });
  response.end(body);
  request.resume(); // its body is not read: drain it rather than leave it to stall the socket
}
