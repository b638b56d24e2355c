/**
 * Recovers the server's accepted CA names (the CertificateRequest's `certificate_authorities`) on the
 * client side of the Node engine, where node:tls offers no API for them.
 *
 * The engine feeds the sniffer every raw byte the server sends (as it passes through the Duplex bridge,
 * before node:tls sees it) and every line of the client TLSSocket's `keylog` event:
 *
 * - TLS 1.2 (and older): the handshake records are in clear up to ChangeCipherSpec; the CertificateRequest
 *   (type 13) carries the names. ServerHelloDone or ChangeCipherSpec (abbreviated handshake) without one
 *   means no certificate was requested.
 * - TLS 1.3: after the ServerHello the server's flight is encrypted under the server handshake traffic
 *   secret, which node reports as `SERVER_HANDSHAKE_TRAFFIC_SECRET` through `keylog`. Records that arrive
 *   before the key are buffered. The CertificateRequest's `certificate_authorities` extension (47) holds
 *   the names; the server's Finished without one means no certificate was requested (always so when
 *   resuming).
 *
 * The sniffer never throws, bounds its memory, stops (and drops every buffer and key) as soon as the
 * answer is known, and costs a single branch per chunk afterwards. Key material never leaves it.
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as RecordProtection from "./tls13RecordProtection.js"
import { CT_ALERT, CT_APPLICATION_DATA, CT_CHANGE_CIPHER_SPEC, CT_HANDSHAKE } from "./tls13RecordProtection.js"

/**
 * Whether every bridged client connection decrypts the server's TLS 1.3 flight for its
 * CertificateRequest (public as `NodeTlsBackend.RecordAcceptedCas`).
 *
 * @internal
 */
export class RecordAcceptedCas extends Context.Reference<RecordAcceptedCas>()(
  "@effect-tls/node/NodeTlsBackend/RecordAcceptedCas",
  { defaultValue: (): boolean => false }
) {}

/**
 * @since 0.1.0
 * @category accepted CAs
 */
export type AcceptedCasState = "pending" | "done" | "none" | "failed"

/**
 * @since 0.1.0
 * @category accepted CAs
 */
export interface AcceptedCasResult {
  /**
   * - `pending`: not known yet;
   * - `done`: the server sent a CertificateRequest (`certificateRequested` true), `acceptedCas` holds its
   *   names (possibly empty: any CA);
   * - `none`: the server's flight ended (or it sent an alert) without a CertificateRequest;
   * - `failed`: the bytes could not be followed (malformed, over a bound, no key, unsupported suite).
   */
  readonly state: AcceptedCasState
  readonly certificateRequested: boolean
  /** DER-encoded X.501 Names, in the server's order. */
  readonly acceptedCas: ReadonlyArray<Uint8Array>
}

/**
 * @since 0.1.0
 * @category accepted CAs
 */
export interface AcceptedCasSniffer {
  /** Every byte the server sends, in order, as it arrives. Never throws; a no-op once settled. */
  readonly onServerBytes: (chunk: Uint8Array) => void
  /** One line of the client TLSSocket's `keylog` event (NSS key log format). Never throws. */
  readonly onKeylog: (line: Uint8Array | string) => void
  readonly result: () => AcceptedCasResult
  /**
   * Ends the sniffing: a `pending` sniffer settles as `failed` (the answer can no longer come) and drops
   * its buffers and key. Call it when the handshake ends (secureConnect, error, close).
   */
  readonly dispose: () => void
  /** Bytes currently held in buffers (for tests and metrics). */
  readonly bufferedBytes: () => number
}

/**
 * @since 0.1.0
 * @category accepted CAs
 */
export interface AcceptedCasSnifferOptions {
  /** Cap on bytes held at any time (records waiting for the key, partial records, messages). */
  readonly maxBufferedBytes?: number | undefined
  /** Give up (state `failed`) when the answer is not known after this many server bytes. */
  readonly maxInspectedBytes?: number | undefined
  /**
   * Follow a TLS 1.3 handshake into its encrypted part (default true). False: the sniffer reads
   * only what travels in clear (TLS 1.2's whole CertificateRequest) and settles as `failed` at a
   * TLS 1.3 ServerHello, so no `keylog` line is needed and nothing is decrypted.
   */
  readonly decryptTls13?: boolean | undefined
}

const HT_HELLO_REQUEST = 0
const HT_SERVER_HELLO = 2
const HT_CERTIFICATE_REQUEST = 13
const HT_SERVER_HELLO_DONE = 14
const HT_FINISHED = 20

const EXT_SUPPORTED_VERSIONS = 43
const EXT_CERTIFICATE_AUTHORITIES = 47

/** Max TLSCiphertext.length in TLS 1.2 (2^14 + 2048); TLS 1.3 is stricter and checked on decryption. */
const MAX_RECORD_LENGTH = (1 << 14) + 2048
/** ServerHello: fixed part + session id + extensions<0..2^16-1>. */
const MAX_SERVER_HELLO = 2 + 32 + 1 + 32 + 2 + 1 + 2 + 0xffff
/** CertificateRequest (TLS 1.2: types<1..255>, sig algs<..2^16-1>, CAs<..2^16-1>; TLS 1.3 is smaller). */
const MAX_CERTIFICATE_REQUEST = 1 + 255 + 2 + 0xffff + 2 + 0xffff

const HRR_RANDOM = Uint8Array.from([
  0xcf,
  0x21,
  0xad,
  0x74,
  0xe5,
  0x9a,
  0x61,
  0x11,
  0xbe,
  0x1d,
  0x8c,
  0x02,
  0x1e,
  0x65,
  0xb8,
  0x91,
  0xc2,
  0xa2,
  0x11,
  0x16,
  0x7a,
  0xbb,
  0x8c,
  0x5e,
  0x07,
  0x9e,
  0x09,
  0xe2,
  0xc8,
  0xa8,
  0x33,
  0x9c
])

const KEYLOG_LABEL = "SERVER_HANDSHAKE_TRAFFIC_SECRET "

const pending: AcceptedCasResult = Object.freeze({ state: "pending", certificateRequested: false, acceptedCas: [] })
const none: AcceptedCasResult = Object.freeze({ state: "none", certificateRequested: false, acceptedCas: [] })
const failed: AcceptedCasResult = Object.freeze({ state: "failed", certificateRequested: false, acceptedCas: [] })

class Malformed {
  readonly _tag = "Malformed"
}
const malformed = new Malformed()

/** Bounds-checked big-endian reader over one message body; throws `malformed` past the end. */
class Reader {
  constructor(readonly bytes: Uint8Array, public offset: number, readonly end: number) {}
  u8(): number {
    if (this.offset + 1 > this.end) throw malformed
    return this.bytes[this.offset++]
  }
  u16(): number {
    if (this.offset + 2 > this.end) throw malformed
    const v = (this.bytes[this.offset] << 8) | this.bytes[this.offset + 1]
    this.offset += 2
    return v
  }
  /** A sub-reader over the next `length` bytes, which this reader skips. */
  sub(length: number): Reader {
    if (this.offset + length > this.end) throw malformed
    const r = new Reader(this.bytes, this.offset, this.offset + length)
    this.offset += length
    return r
  }
  get remaining(): number {
    return this.end - this.offset
  }
}

/** DER length of a TLV starting at `offset`; throws `malformed` unless it is one SEQUENCE filling `end`. */
const checkDerSequence = (bytes: Uint8Array, offset: number, end: number): void => {
  if (end - offset < 2 || bytes[offset] !== 0x30) throw malformed
  let length = bytes[offset + 1]
  let header = 2
  if (length & 0x80) {
    const n = length & 0x7f
    if (n === 0 || n > 3 || end - offset < 2 + n) throw malformed
    length = 0
    for (let i = 0; i < n; i++) length = length * 256 + bytes[offset + 2 + i]
    header += n
  }
  if (header + length !== end - offset) throw malformed
}

/** Reads `DistinguishedName certificate_authorities<..>` entries (each `opaque DistinguishedName<1..2^16-1>`). */
const readDistinguishedNames = (list: Reader): Array<Uint8Array> => {
  const names: Array<Uint8Array> = []
  while (list.remaining > 0) {
    const length = list.u16()
    if (length === 0) throw malformed
    const name = list.sub(length)
    checkDerSequence(name.bytes, name.offset, name.end)
    names.push(name.bytes.slice(name.offset, name.end))
  }
  return names
}

const hexValue = (c: number): number =>
  c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1

/**
 * Creates a sniffer for one client connection.
 *
 * @since 0.1.0
 * @category accepted CAs
 */
export const makeAcceptedCasSniffer = (options?: AcceptedCasSnifferOptions): AcceptedCasSniffer => {
  const maxBuffered = options?.maxBufferedBytes ?? 256 * 1024
  const maxInspected = options?.maxInspectedBytes ?? 1024 * 1024
  const decryptTls13 = options?.decryptTls13 ?? true

  let settled = false
  let outcome: AcceptedCasResult = pending
  let inspected = 0

  // record layer
  const header = new Uint8Array(5)
  let headerLength = 0
  let record: Uint8Array | null = null // partial record (header + body) being filled
  let recordFill = 0

  // protocol progress
  let serverHelloSeen = false
  let helloRetrySeen = false
  let version = 0 // negotiated version once the (real) ServerHello is seen
  let tls13 = false
  let suite: RecordProtection.Tls13CipherSuite | undefined
  let secret: Uint8Array | null = null
  let reader: RecordProtection.Tls13RecordReader | null = null
  let queued: Array<Uint8Array> = [] // encrypted records waiting for the key
  let queuedBytes = 0

  // handshake message layer
  const hsHeader = new Uint8Array(4)
  let hsHeaderLength = 0
  let msgType = 0
  let msgRemaining = 0
  let msg: Uint8Array | null = null // body of a message we read (others are skipped)
  let msgFill = 0

  const settle = (result: AcceptedCasResult): void => {
    if (settled) return
    settled = true
    outcome = result
    record = null
    msg = null
    queued = []
    queuedBytes = 0
    if (secret !== null) secret.fill(0)
    secret = null
    if (reader !== null) reader.destroy()
    reader = null
  }

  const bufferedBytes = (): number =>
    queuedBytes + (record === null ? 0 : record.length) + (msg === null ? 0 : msg.length)

  const reserve = (bytes: number): void => {
    if (bufferedBytes() + bytes > maxBuffered) throw malformed
  }

  // ---- handshake messages ------------------------------------------------------------------------

  const onServerHello = (body: Reader): void => {
    if (serverHelloSeen) throw malformed
    const legacyVersion = body.u16()
    if (body.remaining < 32) throw malformed
    let isRetry = true
    for (let i = 0; i < 32; i++) {
      if (body.bytes[body.offset + i] !== HRR_RANDOM[i]) {
        isRetry = false
        break
      }
    }
    body.offset += 32
    body.sub(body.u8()) // legacy_session_id_echo
    const cipherSuite = body.u16()
    body.u8() // legacy_compression_method
    let selected = 0
    if (body.remaining > 0) {
      const extensions = body.sub(body.u16())
      while (extensions.remaining > 0) {
        const type = extensions.u16()
        const data = extensions.sub(extensions.u16())
        if (type === EXT_SUPPORTED_VERSIONS) selected = data.u16()
      }
    }
    if (body.remaining !== 0) throw malformed
    if (isRetry) {
      if (helloRetrySeen || selected !== 0x0304) throw malformed
      helloRetrySeen = true
      return // a second ServerHello follows
    }
    serverHelloSeen = true
    if (selected === 0x0304) {
      tls13 = true
      version = 0x0304
      suite = RecordProtection.cipherSuite(cipherSuite)
      if (suite === undefined) throw malformed
    } else {
      if (selected !== 0 || helloRetrySeen || legacyVersion < 0x0300 || legacyVersion > 0x0303) throw malformed
      version = legacyVersion
    }
  }

  const onCertificateRequest = (body: Reader): void => {
    let names: Array<Uint8Array> = []
    if (tls13) {
      body.sub(body.u8()) // certificate_request_context
      const extensions = body.sub(body.u16())
      while (extensions.remaining > 0) {
        const type = extensions.u16()
        const data = extensions.sub(extensions.u16())
        if (type === EXT_CERTIFICATE_AUTHORITIES) {
          const list = data.sub(data.u16())
          if (data.remaining !== 0) throw malformed
          names = readDistinguishedNames(list)
        }
      }
    } else {
      body.sub(body.u8()) // certificate_types
      if (version >= 0x0303) body.sub(body.u16()) // supported_signature_algorithms
      names = readDistinguishedNames(body.sub(body.u16()))
    }
    if (body.remaining !== 0) throw malformed
    settle(Object.freeze({ state: "done", certificateRequested: true, acceptedCas: Object.freeze(names) }))
  }

  const onMessage = (type: number, body: Reader): void => {
    switch (type) {
      case HT_SERVER_HELLO:
        return onServerHello(body)
      case HT_CERTIFICATE_REQUEST:
        return onCertificateRequest(body)
      case HT_SERVER_HELLO_DONE:
        if (!tls13) settle(none)
        return
      case HT_FINISHED:
        if (tls13) settle(none)
        return
    }
  }

  /**
   * The size cap for a message whose body is read; 0 for a message skipped without buffering (any size);
   * -1 for a message that may not appear here.
   */
  const wanted = (type: number): number => {
    if (type === HT_SERVER_HELLO) return tls13 ? -1 : MAX_SERVER_HELLO
    if (type === HT_CERTIFICATE_REQUEST) return MAX_CERTIFICATE_REQUEST
    return 0
  }

  const beginMessage = (): void => {
    msgType = hsHeader[0]
    msgRemaining = (hsHeader[1] << 16) | (hsHeader[2] << 8) | hsHeader[3]
    if (!serverHelloSeen && msgType !== HT_SERVER_HELLO && msgType !== HT_HELLO_REQUEST) throw malformed
    const max = wanted(msgType)
    if (max < 0 || max > 0 && msgRemaining > max) throw malformed
    if (max > 0) {
      reserve(msgRemaining)
      msg = new Uint8Array(msgRemaining)
      msgFill = 0
    }
  }

  const endMessage = (body: Uint8Array | null, offset: number, end: number): void => {
    hsHeaderLength = 0
    msg = null
    onMessage(msgType, body === null ? new Reader(new Uint8Array(0), 0, 0) : new Reader(body, offset, end))
  }

  /** Feeds handshake-layer bytes (plaintext records, or decrypted TLS 1.3 records). */
  const onHandshakeBytes = (bytes: Uint8Array): void => {
    let offset = 0
    const end = bytes.length
    while (offset < end && !settled) {
      const wasTls13 = tls13
      if (hsHeaderLength === 0 && end - offset >= 4) {
        // fast path: a whole message inside this fragment is read in place
        const length = (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) | bytes[offset + 3]
        if (end - offset - 4 >= length) {
          msgType = bytes[offset]
          if (!serverHelloSeen && msgType !== HT_SERVER_HELLO && msgType !== HT_HELLO_REQUEST) throw malformed
          const max = wanted(msgType)
          if (max < 0 || max > 0 && length > max) throw malformed
          offset += 4 + length
          onMessage(msgType, new Reader(bytes, offset - length, offset))
          if (tls13 !== wasTls13 && offset !== end) throw malformed // the key changes at a record boundary
          continue
        }
      }
      if (hsHeaderLength < 4) {
        while (hsHeaderLength < 4 && offset < end) hsHeader[hsHeaderLength++] = bytes[offset++]
        if (hsHeaderLength < 4) return
        beginMessage()
        if (msgRemaining === 0) endMessage(msg, 0, 0)
        continue
      }
      const n = Math.min(msgRemaining, end - offset)
      if (msg !== null) msg.set(bytes.subarray(offset, offset + n), msgFill)
      msgFill += n
      offset += n
      msgRemaining -= n
      if (msgRemaining === 0) {
        const body = msg
        endMessage(body, 0, body === null ? 0 : body.length)
        if (tls13 !== wasTls13 && offset !== end) throw malformed
      }
    }
  }

  // ---- records -----------------------------------------------------------------------------------

  const openRecord = (rec: Uint8Array): void => {
    if (reader === null) throw malformed
    if (rec.length - 5 > reader.maxCiphertextLength) throw malformed
    const inner = reader.open(rec)
    if (inner === undefined) throw malformed
    if (inner.type === CT_HANDSHAKE) {
      if (inner.content.length === 0) throw malformed
      onHandshakeBytes(inner.content)
    } else if (inner.type === CT_ALERT) {
      settle(none)
    } else {
      throw malformed
    }
  }

  const startReader = (): void => {
    if (reader !== null || secret === null || suite === undefined) return
    if (secret.length !== suite.hashLength) throw malformed
    reader = RecordProtection.makeRecordReader(suite, secret)
    secret.fill(0)
    secret = null
    const records = queued
    queued = []
    queuedBytes = 0
    for (const rec of records) {
      if (settled) return
      openRecord(rec)
    }
  }

  /** One whole record; `owned` when `rec` is our own buffer (no copy needed to keep it). */
  const onRecord = (rec: Uint8Array, owned: boolean): void => {
    const type = rec[0]
    if (type === CT_HANDSHAKE) {
      if (tls13) throw malformed // only ServerHello / HelloRetryRequest travel in clear
      if (rec.length === 5) throw malformed
      const wasTls13 = tls13
      onHandshakeBytes(rec.subarray(5))
      if (!settled && tls13 && !wasTls13) {
        if (!decryptTls13) return settle(failed)
        if (hsHeaderLength !== 0) throw malformed
        startReader()
      }
    } else if (type === CT_APPLICATION_DATA) {
      if (!tls13) throw malformed // TLS 1.2 settles at ChangeCipherSpec, before any
      if (reader !== null) return openRecord(rec)
      reserve(owned ? 0 : rec.length)
      const copy = owned ? rec : rec.slice()
      queued.push(copy)
      queuedBytes += copy.length
    } else if (type === CT_CHANGE_CIPHER_SPEC) {
      if (tls13 || helloRetrySeen) return // middlebox compatibility
      if (!serverHelloSeen) throw malformed
      settle(none) // TLS 1.2: the clear part of the server's flight ends (abbreviated handshake)
    } else if (type === CT_ALERT) {
      settle(none)
    } else {
      throw malformed
    }
  }

  const onServerBytesUnsafe = (chunk: Uint8Array): void => {
    inspected += chunk.length
    let offset = 0
    const end = chunk.length
    while (offset < end && !settled) {
      if (record === null) {
        if (headerLength === 0 && end - offset >= 5) {
          header.set(chunk.subarray(offset, offset + 5))
          headerLength = 5
          offset += 5
        } else {
          while (headerLength < 5 && offset < end) header[headerLength++] = chunk[offset++]
          if (headerLength < 5) break
        }
        const type = header[0]
        const length = (header[3] << 8) | header[4]
        if (
          type < CT_CHANGE_CIPHER_SPEC || type > CT_APPLICATION_DATA || header[1] !== 3 || length > MAX_RECORD_LENGTH
        ) {
          throw malformed
        }
        headerLength = 0
        if (end - offset >= length) {
          // fast path: the whole record is in this chunk, read it in place
          const start = offset - 5
          offset += length
          if (start >= 0) {
            onRecord(chunk.subarray(start, offset), false)
          } else {
            const rec = new Uint8Array(5 + length)
            rec.set(header)
            rec.set(chunk.subarray(offset - length, offset), 5)
            onRecord(rec, true)
          }
          continue
        }
        reserve(5 + length)
        record = new Uint8Array(5 + length)
        record.set(header)
        recordFill = 5
      }
      const n = Math.min(record.length - recordFill, end - offset)
      record.set(chunk.subarray(offset, offset + n), recordFill)
      recordFill += n
      offset += n
      if (recordFill === record.length) {
        const rec = record
        record = null
        onRecord(rec, true)
      }
    }
    if (!settled && inspected > maxInspected) throw malformed
  }

  const onKeylogUnsafe = (line: Uint8Array | string): void => {
    const at = typeof line === "string" ? (i: number) => line.charCodeAt(i) : (i: number) => line[i]
    const length = line.length
    const label = KEYLOG_LABEL.length
    if (length < label) return
    for (let i = 0; i < label; i++) {
      if (at(i) !== KEYLOG_LABEL.charCodeAt(i)) return
    }
    if (secret !== null || reader !== null) return // only the first one counts
    // <client_random: 64 hex> <secret: 2 * hash length hex>
    let i = label
    while (i < length && at(i) !== 32) i++
    if (i - label !== 64) throw malformed
    const start = i + 1
    let stop = start
    while (stop < length && hexValue(at(stop)) >= 0) stop++
    for (let j = stop; j < length; j++) {
      const c = at(j)
      if (c !== 10 && c !== 13 && c !== 32) throw malformed
    }
    const hexLength = stop - start
    if (hexLength !== 64 && hexLength !== 96) throw malformed
    const bytes = new Uint8Array(hexLength / 2)
    for (let k = 0; k < bytes.length; k++) {
      bytes[k] = (hexValue(at(start + 2 * k)) << 4) | hexValue(at(start + 2 * k + 1))
    }
    secret = bytes
    if (tls13) startReader()
  }

  return {
    onServerBytes: (chunk) => {
      if (settled) return
      try {
        onServerBytesUnsafe(chunk)
      } catch {
        settle(failed)
      }
    },
    onKeylog: (line) => {
      if (settled) return
      try {
        onKeylogUnsafe(line)
      } catch {
        settle(failed)
      }
    },
    result: () => outcome,
    dispose: () => settle(failed),
    bufferedBytes
  }
}
