/**
 * Reading a TLS ClientHello off a transport before the engine starts, so that a server can
 * choose its credentials (SNI), its ALPN protocol and its ticket key with Effects, for every
 * engine alike. The bytes read are pushed back (`Transport.unread`): the engine sees the
 * ClientHello untouched. Anything that is not a well-formed ClientHello is pushed back too and
 * left for the engine to refuse with its own error.
 *
 * RFC 8446 §4.1.2 (ClientHello), §4.2 (extensions), RFC 6066 §3 (server_name), RFC 7301
 * (ALPN), RFC 5077 (session_ticket), RFC 8446 §4.2.11 (pre_shared_key).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Transport, TransportError } from "../Transport.js"
import { concat } from "./bytes.js"
import { TextDecoder } from "./webcrypto.js"

/** @internal */
export interface ClientHello {
  /** The host name of the server_name extension. */
  readonly serverName: Option.Option<string>
  /** The ALPN protocols offered, in the client's order (empty: no ALPN extension). */
  readonly alpn: ReadonlyArray<string>
  /** Resumption tickets offered (TLS 1.2 session_ticket, TLS 1.3 pre_shared_key identities). */
  readonly tickets: ReadonlyArray<Uint8Array>
}

/** A ClientHello is far smaller in practice; a peer sending more is not given more memory. */
const MAX_HELLO = 64 * 1024

const HANDSHAKE = 22

const textDecoder = new TextDecoder("utf-8", { fatal: true })

type Progress =
  | { readonly _tag: "More" }
  | { readonly _tag: "NotAHello" }
  | { readonly _tag: "Hello"; readonly hello: ClientHello }

/** Reassembles the handshake message from the records at the start of `bytes`. */
const progress = (bytes: Uint8Array): Progress => {
  const message: Array<Uint8Array> = []
  let messageLength = 0
  let at = 0
  let wanted = -1
  while (true) {
    if (at >= bytes.length) return { _tag: "More" }
    if (bytes[at] !== HANDSHAKE) return { _tag: "NotAHello" }
    if (at + 5 > bytes.length) return { _tag: "More" }
    if (bytes[at + 1] !== 3) return { _tag: "NotAHello" }
    const length = (bytes[at + 3]! << 8) | bytes[at + 4]!
    if (length === 0 || length > 16384 + 2048) return { _tag: "NotAHello" }
    if (at + 5 + length > bytes.length) return { _tag: "More" }
    message.push(bytes.subarray(at + 5, at + 5 + length))
    messageLength += length
    at += 5 + length
    if (wanted < 0 && messageLength >= 4) {
      const head = concat(message)
      if (head[0] !== 1) return { _tag: "NotAHello" }
      wanted = 4 + ((head[1]! << 16) | (head[2]! << 8) | head[3]!)
      if (wanted > MAX_HELLO) return { _tag: "NotAHello" }
    }
    if (wanted >= 0 && messageLength >= wanted) {
      const parsed = parse(concat(message).subarray(4, wanted))
      return parsed === undefined ? { _tag: "NotAHello" } : { _tag: "Hello", hello: parsed }
    }
  }
}

/** Parses a ClientHello body; undefined when malformed. */
export const parse = (body: Uint8Array): ClientHello | undefined => {
  let at = 0
  const need = (n: number) => {
    if (at + n > body.length) throw new RangeError("short")
  }
  const u8 = () => {
    need(1)
    return body[at++]!
  }
  const u16 = () => {
    need(2)
    const value = (body[at]! << 8) | body[at + 1]!
    at += 2
    return value
  }
  const take = (n: number) => {
    need(n)
    const out = body.subarray(at, at + n)
    at += n
    return out
  }
  try {
    take(2 + 32) // legacy_version, random
    take(u8()) // legacy_session_id
    take(u16()) // cipher_suites
    take(u8()) // legacy_compression_methods
    let serverName: Option.Option<string> = Option.none()
    const alpn: Array<string> = []
    const tickets: Array<Uint8Array> = []
    if (at === body.length) return { serverName, alpn, tickets }
    const extensionsEnd = u16() + at
    if (extensionsEnd > body.length) return undefined
    while (at < extensionsEnd) {
      const type = u16()
      const data = take(u16())
      const view = { bytes: data, at: 0 }
      const r16 = () => {
        if (view.at + 2 > view.bytes.length) throw new RangeError("short")
        const value = (view.bytes[view.at]! << 8) | view.bytes[view.at + 1]!
        view.at += 2
        return value
      }
      const rTake = (n: number) => {
        if (view.at + n > view.bytes.length) throw new RangeError("short")
        const out = view.bytes.subarray(view.at, view.at + n)
        view.at += n
        return out
      }
      switch (type) {
        case 0: { // server_name
          const end = r16() + view.at
          while (view.at < end) {
            const nameType = rTake(1)[0]
            const name = rTake(r16())
            if (nameType === 0 && Option.isNone(serverName)) {
              serverName = Option.some(textDecoder.decode(name).toLowerCase())
            }
          }
          break
        }
        case 16: { // application_layer_protocol_negotiation
          const end = r16() + view.at
          while (view.at < end) {
            const length = rTake(1)[0]!
            alpn.push(textDecoder.decode(rTake(length)))
          }
          break
        }
        case 35: { // session_ticket (TLS 1.2)
          if (data.length > 0) tickets.push(data.slice())
          break
        }
        case 41: { // pre_shared_key (TLS 1.3): identities
          const end = r16() + view.at
          while (view.at < end) {
            tickets.push(rTake(r16()).slice())
            rTake(4) // obfuscated_ticket_age
          }
          break
        }
      }
    }
    return { serverName, alpn, tickets }
  } catch {
    return undefined
  }
}

/**
 * Reads until a whole ClientHello is buffered, pushes every byte read back and returns what it
 * says; none when the peer sent something else or ended first (the engine then refuses it).
 *
 * @internal
 */
export const peek = (transport: Transport): Effect.Effect<Option.Option<ClientHello>, TransportError> =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    let size = 0
    const pushBack = Effect.suspend(() => {
      const all = chunks.length === 0 ? undefined : concat(chunks)
      return all === undefined ? Effect.void : transport.unread(all)
    })
    return yield* Effect.gen(function*() {
      while (true) {
        const chunk = yield* transport.read
        if (Option.isNone(chunk)) return Option.none<ClientHello>()
        chunks.push(chunk.value)
        size += chunk.value.length
        const state = progress(concat(chunks))
        if (state._tag === "Hello") return Option.some(state.hello)
        if (state._tag === "NotAHello" || size > MAX_HELLO) return Option.none<ClientHello>()
      }
    }).pipe(Effect.ensuring(pushBack))
  })

/**
 * A fatal alert record, written in clear before the engine starts (RFC 8446 §6).
 *
 * @internal
 */
export const alertRecord = (description: number): Uint8Array => new Uint8Array([21, 3, 3, 0, 2, 2, description])

/** @internal */
export const UNRECOGNIZED_NAME = 112

/** @internal */
export const NO_APPLICATION_PROTOCOL = 120
