/**
 * The client half of SMTP's STARTTLS (RFC 3207) over a plaintext transport: greeting, EHLO,
 * STARTTLS, then the transport is ready for the TLS handshake. Bytes read past the server's
 * last reply are pushed back (`unread`).
 *
 * @internal
 */
import type * as Transport from "@effect-tls/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { CliError, ExitCode, messageOf } from "./errors.js"

const fail = (detail: string, cause?: unknown) =>
  new CliError({ exitCode: ExitCode.Connection, reason: "StartTls/Smtp", detail, cause })

const decoder = new TextDecoder("latin1")
const encoder = new TextEncoder()
/** An SMTP reply longer than this is no SMTP server. */
const maxReply = 64 * 1024

interface Reply {
  readonly code: number
  readonly lines: ReadonlyArray<string>
}

const readReply = (transport: Transport.Transport): Effect.Effect<Reply, CliError> =>
  Effect.gen(function*() {
    let buffer = ""
    while (true) {
      // a complete reply ends with a line "ddd text" (no hyphen after the code)
      const lines = buffer.split("\r\n")
      for (let i = 0; i < lines.length - 1; i++) {
        const line = lines[i]!
        if (/^\d{3}(?: |$)/.test(line)) {
          const consumed = lines.slice(0, i + 1).join("\r\n").length + 2
          const rest = buffer.slice(consumed)
          if (rest.length > 0) yield* transport.unread(Uint8Array.from(rest, (c) => c.charCodeAt(0)))
          return { code: Number(line.slice(0, 3)), lines: lines.slice(0, i + 1).map((l) => l.slice(4)) }
        }
        if (!/^\d{3}-/.test(line)) return yield* fail(`not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}`)
      }
      if (buffer.length > maxReply) return yield* fail("the SMTP reply is too long")
      const chunk = yield* Effect.mapError(transport.read, (error) => fail(messageOf(error), error))
      if (Option.isNone(chunk)) return yield* fail("the server closed the connection during the SMTP dialogue")
      buffer += decoder.decode(chunk.value)
    }
  })

const send = (transport: Transport.Transport, line: string) =>
  Effect.mapError(transport.write(encoder.encode(`${line}\r\n`)), (error) => fail(messageOf(error), error))

const expect = (reply: Reply, code: number, step: string) =>
  reply.code === code
    ? Effect.succeed(reply)
    : Effect.fail(fail(`${step}: the server answered ${reply.code} ${reply.lines.at(-1) ?? ""}`))

/** @internal */
export const smtp = (transport: Transport.Transport, heloName = "effect-tls.invalid") =>
  Effect.gen(function*() {
    yield* expect(yield* readReply(transport), 220, "greeting")
    yield* send(transport, `EHLO ${heloName}`)
    const ehlo = yield* expect(yield* readReply(transport), 250, "EHLO")
    if (!ehlo.lines.some((line) => /^STARTTLS\b/i.test(line))) {
      return yield* fail("the server does not offer STARTTLS")
    }
    yield* send(transport, "STARTTLS")
    yield* expect(yield* readReply(transport), 220, "STARTTLS")
  })
