/**
 * `serve --sni NAME=CERT,KEY`: the server name a client asks for, read from its ClientHello
 * before the TLS server sees it (the bytes are pushed back with `Transport.unread`), so each
 * connection is made with the certificate for that name. A ClientHello that cannot be read
 * (not TLS, no SNI, cut short) gets the default certificate: the handshake then reports what
 * is wrong with it.
 *
 * @internal
 */
import type * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import type * as Transport from "@effect-tls/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { usage } from "./errors.js"
import { loadCertifiedKey } from "./probe.js"

/** A ClientHello in more than this is no client to serve (the record limit is 16 KiB). */
const maxHello = 64 * 1024

/** The complete ClientHello handshake message, once `buffer` holds it; `undefined` while short; `null` if not TLS. */
const clientHello = (buffer: Uint8Array): Uint8Array | undefined | null => {
  const fragments: Array<Uint8Array> = []
  let total = 0
  let at = 0
  while (at + 5 <= buffer.length) {
    if (buffer[at] !== 22) return null // not a handshake record
    const length = (buffer[at + 3]! << 8) | buffer[at + 4]!
    if (at + 5 + length > buffer.length) return undefined
    fragments.push(buffer.subarray(at + 5, at + 5 + length))
    total += length
    at += 5 + length
    if (total >= 4) {
      const first = fragments[0]!.length >= 4 ? fragments[0]! : concat(fragments)
      if (first[0] !== 1) return null // not a ClientHello
      const size = 4 + ((first[1]! << 16) | (first[2]! << 8) | first[3]!)
      if (total >= size) return concat(fragments).subarray(0, size)
    }
  }
  return undefined
}

const concat = (parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** The host_name of the server_name extension (RFC 6066 §3) of a ClientHello message. */
export const serverName = (hello: Uint8Array): Option.Option<string> => {
  const u16 = (at: number) => (hello[at]! << 8) | hello[at + 1]!
  let at = 4 + 2 + 32 // header, legacy_version, random
  if (at >= hello.length) return Option.none()
  at += 1 + hello[at]! // legacy_session_id
  if (at + 2 > hello.length) return Option.none()
  at += 2 + u16(at) // cipher_suites
  if (at >= hello.length) return Option.none()
  at += 1 + hello[at]! // legacy_compression_methods
  if (at + 2 > hello.length) return Option.none()
  const end = Math.min(hello.length, at + 2 + u16(at))
  at += 2
  while (at + 4 <= end) {
    const type = u16(at)
    const length = u16(at + 2)
    at += 4
    if (type === 0 && at + length <= end) {
      let entry = at + 2
      while (entry + 3 <= at + length) {
        const nameLength = u16(entry + 1)
        if (hello[entry] === 0 && entry + 3 + nameLength <= at + length) {
          return Option.some(new TextDecoder().decode(hello.subarray(entry + 3, entry + 3 + nameLength)).toLowerCase())
        }
        entry += 3 + nameLength
      }
      return Option.none()
    }
    at += length
  }
  return Option.none()
}

/**
 * Reads the client's first flight up to its ClientHello, pushes it back, and returns the SNI.
 *
 * @internal
 */
export const peekServerName = (transport: Transport.Transport): Effect.Effect<Option.Option<string>> =>
  Effect.gen(function*() {
    let buffer = new Uint8Array(0)
    let result: Option.Option<string> = Option.none()
    while (buffer.length < maxHello) {
      const chunk = yield* Effect.orElseSucceed(transport.read, () => Option.none<Uint8Array>())
      if (Option.isNone(chunk)) break
      buffer = concat([buffer, chunk.value])
      const hello = clientHello(buffer)
      if (hello === null) break
      if (hello !== undefined) {
        result = serverName(hello)
        break
      }
    }
    if (buffer.length > 0) yield* transport.unread(buffer)
    return result
  })

/** @internal */
export interface SniEntry {
  readonly name: string
  readonly certificate: CertifiedKey.CertifiedKey
}

/** `NAME=CERT,KEY` (NAME may be `*.example.com`). */
export const parseSni = (spec: string) =>
  Effect.gen(function*() {
    const match = /^([^=]+)=([^,]+),(.+)$/.exec(spec)
    if (match === null) return yield* Effect.fail(usage(`--sni ${spec}: expected NAME=CERT,KEY`))
    const certificate = yield* loadCertifiedKey(Option.some(match[2]!), Option.some(match[3]!))
    return { name: match[1]!.toLowerCase(), certificate: certificate! } satisfies SniEntry
  })

/** The entry for `name`: an exact name first, then a `*.` wildcard of one label. */
export const select = (entries: ReadonlyArray<SniEntry>, name: Option.Option<string>): SniEntry | undefined => {
  if (Option.isNone(name)) return undefined
  const exact = entries.find((entry) => entry.name === name.value)
  if (exact !== undefined) return exact
  const dot = name.value.indexOf(".")
  return dot < 0 ? undefined : entries.find((entry) => entry.name === `*${name.value.slice(dot)}`)
}
