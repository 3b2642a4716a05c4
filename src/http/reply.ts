/**
 * The HTTP API's JSON answers as plain data until the edge: a `JsonReply` is status, headers and
 * the body text. The Fetch handler turns it into a `Response`; the node:http listener
 * (adapters.ts) writes it straight to the socket instead — no `Response` object, no body stream for
 * the bridge to read back — and tells `@hono/node-server` the answer is sent (its documented
 * `RESPONSE_ALREADY_SENT`). Streams (SSE) and `/metrics` stay `Response`s and go through the
 * bridge as before.
 *
 * Why: building a `Response` and having the bridge read its body back through a stream costs
 * ~27 µs of server CPU per answer (measured on a 401, which touches no database: 36 µs per request
 * written directly against 63 µs through a Response, at 64 connections) — about as much as
 * routing, auth and the rest of node:http together; on a run (~800 µs) it is ~3%.
 */

export class JsonReply {
  constructor(
    readonly status: number,
    readonly headers: Readonly<Record<string, string>>,
    readonly body: string,
  ) {}

  toResponse(): Response {
    return new Response(this.body, { status: this.status, headers: this.headers })
  }
}

/** What a route or the handler answers: a JSON reply, or a `Response` (streams, other bodies). */
export type Answer = JsonReply | Response

/** The handler's answer before it becomes a `Response`, for adapters that can write a JSON reply themselves. */
type DirectAnswer = (request: Request) => Promise<Answer>

const direct = new WeakMap<object, DirectAnswer>()

/** Registers `answer` as the direct form of `handler` (createLlmHttpHandler does this). */
export function setDirectAnswer(handler: object, answer: DirectAnswer): void {
  direct.set(handler, answer)
}

/** The direct form of a handler made by createLlmHttpHandler; undefined for any other function. */
export function directAnswerOf(handler: object): DirectAnswer | undefined {
  return direct.get(handler)
}

export const toResponse = (answer: Answer): Response => (answer instanceof JsonReply ? answer.toResponse() : answer)
