/**
 * Sessions for resumption: what the client stores in core's `SessionCache` (node's session
 * wrapped with the peer's chain, which OpenSSL does not keep in a client session), and what
 * the engine reads from OpenSSL's SSL_SESSION DER.
 *
 * @internal
 */
import * as Option from "effect/Option"
import { opensslSessions } from "./runtime.js"

/** A session for the cache: `u32 count, (u32 length, DER)*` of the peer chain, then node's session. */
/** @internal */
export const wrapSession = (chain: ReadonlyArray<Uint8Array>, session: Buffer): Uint8Array => {
  const size = 4 + chain.reduce((n, der) => n + 4 + der.length, 0) + session.length
  const out = Buffer.allocUnsafe(size)
  let at = out.writeUInt32BE(chain.length, 0)
  for (const der of chain) {
    at = out.writeUInt32BE(der.length, at)
    out.set(der, at)
    at += der.length
  }
  out.set(session, at)
  return out
}

/** A cached session, unwrapped: the peer's chain and node's session. @internal */
export interface Unwrapped {
  readonly peerCertificates: ReadonlyArray<Uint8Array>
  readonly session: Buffer
}

/**
 * Sessions unwrapped before, by the cache's bytes (a cache that reuses tickets hands the same
 * bytes to every connection): each is read and copied once, and forgotten with the bytes. The
 * copies are never handed out to be changed (node:tls reads the session, core the chain).
 */
const unwrapped = new WeakMap<Uint8Array, Option.Option<Unwrapped>>()

/** @internal */
export const unwrapSession = (bytes: Uint8Array): Option.Option<Unwrapped> => {
  const known = unwrapped.get(bytes)
  if (known !== undefined) return known
  const read = readWrapped(bytes)
  unwrapped.set(bytes, read)
  return read
}

const readWrapped = (bytes: Uint8Array): Option.Option<Unwrapped> => {
  try {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const count = buffer.readUInt32BE(0)
    if (count > 16) return Option.none()
    let at = 4
    const peerCertificates: Array<Uint8Array> = []
    for (let i = 0; i < count; i++) {
      const length = buffer.readUInt32BE(at)
      at += 4
      if (at + length > buffer.length) return Option.none()
      peerCertificates.push(new Uint8Array(buffer.subarray(at, at + length)))
      at += length
    }
    return at < buffer.length
      ? Option.some({ peerCertificates, session: Buffer.from(buffer.subarray(at)) })
      : Option.none()
  } catch {
    return Option.none()
  }
}

/** A DER length at `at`: the length, and where the contents start (undefined when malformed). */
const derLength = (der: Uint8Array, at: number): readonly [length: number, start: number] | undefined => {
  const first = der[at]
  if (first === undefined) return undefined
  if (first < 0x80) return [first, at + 1]
  const octets = first & 0x7f
  if (octets === 0 || octets > 3 || at + octets >= der.length) return undefined
  let value = 0
  for (let i = 1; i <= octets; i++) value = value * 256 + der[at + i]!
  return [value, at + 1 + octets]
}

/**
 * Whether the session was made with the extended master secret (RFC 7627): OpenSSL's
 * SSL_SESSION DER holds it in `flags` ([13] INTEGER, SSL_SESS_FLAG_EXTMS = 1; absent when no
 * flag is set); BoringSSL's (Bun) in `extendedMasterSecret` ([17] BOOLEAN, absent when false),
 * after its `version` INTEGER 1 (a DER that starts otherwise gives none). The DER holds the master
 * key too: it is read here, never kept, and wiped.
 *
 * @internal
 */
export const sessionHasExtendedMasterSecret = (
  session: Buffer | undefined,
  encoding: "openssl" | "boringssl" = "openssl"
): Option.Option<boolean> => {
  if (session === undefined) return Option.none()
  try {
    const outer = session[0] === 0x30 ? derLength(session, 1) : undefined
    if (outer === undefined) return Option.none()
    const [total, start] = outer
    const end = Math.min(start + total, session.length)
    // (BoringSSL's SSLSession starts with its structure's version, INTEGER 1)
    if (
      encoding === "boringssl" && !(session[start] === 0x02 && session[start + 1] === 1 && session[start + 2] === 1)
    ) {
      return Option.none()
    }
    for (let at = start; at < end;) {
      const tag = session[at]!
      const field = derLength(session, at + 1)
      if (field === undefined) return Option.none()
      const [size, contents] = field
      // OpenSSL: [13] EXPLICIT INTEGER: 0xad, then 02 len value
      if (encoding === "openssl" && tag === 0xad) {
        return Option.some(session[contents] === 0x02 && (session[contents + 1 + session[contents + 1]!]! & 1) === 1)
      }
      // BoringSSL: [17] EXPLICIT BOOLEAN: 0xb1, then 01 01 value
      if (encoding === "boringssl" && tag === 0xb1) {
        return Option.some(session[contents] === 0x01 && session[contents + 1] === 1 && session[contents + 2] !== 0)
      }
      at = contents + size
    }
    return Option.some(false)
  } finally {
    session.fill(0)
  }
}

/** A DER length's encoding (at most 3 octets: sessions are far smaller than 16 MiB). */
const encodeDerLength = (length: number): Array<number> =>
  length < 0x80
    ? [length]
    : length < 0x100
    ? [0x81, length]
    : length < 0x10000
    ? [0x82, length >> 8, length & 0xff]
    : [0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]

/**
 * OpenSSL's client TLS 1.3 SSL_SESSION DER without the peer's certificate (`peer`, `[3] EXPLICIT
 * Certificate`): node:tls decodes every field again on each `setSession`, and the certificate
 * is the costly one under OpenSSL 3 (about 0.4 ms of the resuming client's CPU, more than its
 * TLSSocket costs otherwise). Nothing else reads it back: node's client takes the peer's chain
 * from the handshake, which a resumption does not carry, and the engine keeps the chain beside
 * the session (`wrapSession`). The one reader is node's verdict (`verifyError`), which asks the
 * session's `verify_result` only when the certificate is there, and otherwise answers OK for a
 * resumed TLS 1.3 session (an error for TLS 1.2): so only a TLS 1.3 session (`ssl_version`
 * 0x0304) whose `verify_result` is OK (`[5]` absent) loses it, and the engine reports the same
 * verdict for it as before. Anything else (TLS 1.2, a verdict that is not OK, a DER that does
 * not read as one SEQUENCE of fields, no `[3]`) is returned as it is.
 *
 * @internal
 */
export const withoutPeerCertificate = (session: Buffer): Buffer => {
  if (session[0] !== 0x30) return session
  const outer = derLength(session, 1)
  if (outer === undefined || outer[1] + outer[0] !== session.length) return session
  let peer: readonly [from: number, to: number] | undefined = undefined
  let index = 0
  for (let at = outer[1]; at < session.length; index++) {
    const tag = session[at]
    const field = derLength(session, at + 1)
    if (field === undefined || field[1] + field[0] > session.length) return session
    const end = field[1] + field[0]
    // (the second field, ssl_version: INTEGER 0x0304, TLS 1.3)
    if (index === 1 && !(tag === 0x02 && field[0] === 2 && session[field[1]] === 3 && session[field[1] + 1] === 4)) {
      return session
    }
    // (verify_result, present when it is not X509_V_OK)
    if (tag === 0xa5) return session
    if (tag === 0xa3) peer = [at, end]
    at = end
  }
  if (peer === undefined) return session
  const contents = session.length - outer[1] - (peer[1] - peer[0])
  const header = [0x30, ...encodeDerLength(contents)]
  const out = Buffer.allocUnsafe(header.length + contents)
  out.set(header, 0)
  session.copy(out, header.length, outer[1], peer[0])
  session.copy(out, header.length + peer[0] - outer[1], peer[1])
  return out
}

/** The sessions a client connection collects for the cache. @internal */
export class ClientSessions {
  private readonly received: Array<Buffer> = []

  /** A session (ticket) arrived on this connection. */
  get hasReceived(): boolean {
    return this.received.length > 0
  }

  constructor(
    /** The session offered for resumption, unwrapped, if any. */
    readonly offered: Unwrapped | undefined
  ) {}

  /** node:tls's `session` event: a ticket (TLS 1.3) or the session (TLS 1.2). */
  readonly onSession = (session: Buffer): void => {
    // a few tickets are plenty; a server sending more gets no more memory
    if (this.received.length < 4) this.received.push(session)
  }

  /** Whether `wrapped` gives any session now. */
  keeps(handshake: { readonly resumed: boolean; readonly protocolVersion: string }): boolean {
    return this.received.length > 0 || this.keepsOffered(handshake)
  }

  /** A TLS 1.2 session stays valid when resumed without a new ticket; TLS 1.3 tickets are single-use. */
  private keepsOffered(handshake: { readonly resumed: boolean; readonly protocolVersion: string }): boolean {
    return handshake.resumed && handshake.protocolVersion !== "TLSv1.3" && this.offered !== undefined
  }

  /**
   * The newest sessions, wrapped with the peer's chain: node:tls forgets the chain of a resumed
   * session (OpenSSL keeps no peer chain in a client session), and core verifies it again.
   */
  wrapped(
    handshake: {
      readonly resumed: boolean
      readonly protocolVersion: string
      readonly peerCertificates: ReadonlyArray<Uint8Array>
    }
  ): ReadonlyArray<Uint8Array> {
    const sessions = this.received.length > 0
      ? this.received
      : this.keepsOffered(handshake)
      ? [this.offered!.session]
      : []
    return sessions.map((session) =>
      wrapSession(handshake.peerCertificates, opensslSessions ? withoutPeerCertificate(session) : session)
    )
  }
}
