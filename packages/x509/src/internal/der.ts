/**
 * A minimal, strict DER reader and writer, plus PEM, base64 and hex helpers. Used where the
 * X.509 library's object model loses information (raw TBS bytes, raw names, IP octets).
 *
 * Every reader throws `DerError`; callers at the public boundary turn it into a typed error.
 *
 * @internal
 */
import { atob, btoa } from "./webcrypto.js"

/** @internal */
export class DerError extends Error {}

/** @internal */
export interface Tlv {
  /** The full identifier octet (class, constructed bit and tag number < 31). */
  readonly tag: number
  readonly start: number
  readonly valueStart: number
  readonly end: number
}

/** @internal */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8String: 0x0c,
  PrintableString: 0x13,
  TeletexString: 0x14,
  IA5String: 0x16,
  UTCTime: 0x17,
  GeneralizedTime: 0x18,
  UniversalString: 0x1c,
  BMPString: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31
} as const

/** @internal */
export const readTlv = (buf: Uint8Array, offset: number, limit: number = buf.length): Tlv => {
  if (offset + 2 > limit) throw new DerError("truncated TLV header")
  const tag = buf[offset]
  if ((tag & 0x1f) === 0x1f) throw new DerError("high tag numbers are not supported")
  let pos = offset + 1
  const first = buf[pos++]
  let length: number
  if (first < 0x80) {
    length = first
  } else {
    const count = first & 0x7f
    if (count === 0) throw new DerError("indefinite length")
    if (count > 4) throw new DerError("length too large")
    if (pos + count > limit) throw new DerError("truncated length")
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++]
    if (buf[offset + 2] === 0) throw new DerError("non-minimal length")
    if (length < 0x80) throw new DerError("non-minimal length")
  }
  const end = pos + length
  if (end > limit) throw new DerError("truncated value")
  return { tag, start: offset, valueStart: pos, end }
}

/** Reads exactly one TLV spanning the whole buffer. @internal */
export const readOnly = (buf: Uint8Array, expectedTag?: number): Tlv => {
  const tlv = readTlv(buf, 0)
  if (tlv.end !== buf.length) throw new DerError("trailing data")
  if (expectedTag !== undefined && tlv.tag !== expectedTag) throw new DerError("unexpected tag")
  return tlv
}

/** The children of a constructed TLV. @internal */
export const children = (buf: Uint8Array, parent: Tlv): Array<Tlv> => {
  const out: Array<Tlv> = []
  let pos = parent.valueStart
  while (pos < parent.end) {
    const child = readTlv(buf, pos, parent.end)
    out.push(child)
    pos = child.end
  }
  return out
}

/** @internal */
export const value = (buf: Uint8Array, tlv: Tlv): Uint8Array => buf.subarray(tlv.valueStart, tlv.end)

/** @internal */
export const whole = (buf: Uint8Array, tlv: Tlv): Uint8Array => buf.subarray(tlv.start, tlv.end)

/** @internal */
export const expect = (tlv: Tlv | undefined, tag: number, what: string): Tlv => {
  if (tlv === undefined || tlv.tag !== tag) throw new DerError(`expected ${what}`)
  return tlv
}

/** @internal */
export const decodeOid = (bytes: Uint8Array): string => {
  if (bytes.length === 0) throw new DerError("empty OID")
  const parts: Array<number> = []
  let acc = 0
  let started = false
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]
    if (!started && b === 0x80) throw new DerError("non-minimal OID")
    started = true
    acc = acc * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) {
      if (parts.length === 0) {
        if (acc < 40) parts.push(0, acc)
        else if (acc < 80) parts.push(1, acc - 40)
        else parts.push(2, acc - 80)
      } else parts.push(acc)
      acc = 0
      started = false
    }
  }
  if (started) throw new DerError("truncated OID")
  return parts.join(".")
}

/** @internal */
export const readOid = (buf: Uint8Array, tlv: Tlv | undefined): string =>
  decodeOid(value(buf, expect(tlv, Tag.OID, "OBJECT IDENTIFIER")))

/** A non-negative INTEGER as a number (throws when too large or negative). @internal */
export const readSmallInt = (buf: Uint8Array, tlv: Tlv | undefined): number => {
  const bytes = value(buf, expect(tlv, Tag.INTEGER, "INTEGER"))
  if (bytes.length === 0) throw new DerError("empty INTEGER")
  if (bytes.length > 1 && bytes[0] === 0 && (bytes[1] & 0x80) === 0) throw new DerError("non-minimal INTEGER")
  if (bytes[0] & 0x80) throw new DerError("negative INTEGER")
  if (bytes.length > 6) throw new DerError("INTEGER too large")
  let n = 0
  for (const b of bytes) n = n * 256 + b
  return n
}

/** The contents of a BIT STRING without unused bits. @internal */
export const readBitString = (buf: Uint8Array, tlv: Tlv | undefined): { bytes: Uint8Array; unused: number } => {
  const v = value(buf, expect(tlv, Tag.BIT_STRING, "BIT STRING"))
  if (v.length === 0) throw new DerError("empty BIT STRING")
  const unused = v[0]
  if (unused > 7 || (v.length === 1 && unused !== 0)) throw new DerError("bad BIT STRING")
  return { bytes: v.subarray(1), unused }
}

// ---- writer ----

const encodeLength = (length: number): Array<number> => {
  if (length < 0x80) return [length]
  const bytes: Array<number> = []
  let n = length
  while (n > 0) {
    bytes.unshift(n & 0xff)
    n = Math.floor(n / 256)
  }
  return [0x80 | bytes.length, ...bytes]
}

/** @internal */
export const encode = (tag: number, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const total = parts.reduce((n, p) => n + p.length, 0)
  const header = [tag, ...encodeLength(total)]
  const out = new Uint8Array(header.length + total)
  out.set(header, 0)
  let pos = header.length
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}

/** @internal */
export const encodeOid = (oid: string): Uint8Array => {
  const parts = oid.split(".").map(Number)
  const values = [parts[0] * 40 + parts[1], ...parts.slice(2)]
  const bytes: Array<number> = []
  for (const v of values) {
    const chunk: Array<number> = [v & 0x7f]
    let n = Math.floor(v / 128)
    while (n > 0) {
      chunk.unshift((n & 0x7f) | 0x80)
      n = Math.floor(n / 128)
    }
    for (const b of chunk) bytes.push(b)
  }
  return encode(Tag.OID, new Uint8Array(bytes))
}

/** @internal */
export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}

// ---- text helpers ----

/** @internal */
export const toHex = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0")
  return out
}

/** @internal */
export const toBase64 = (bytes: Uint8Array): string => {
  let binary = ""
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 0x8000)))
  }
  return btoa(binary)
}

/** @internal */
export const fromBase64 = (text: string): Uint8Array => {
  const clean = text.replace(/[\s]/g, "")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) throw new DerError("invalid base64")
  const binary = atob(clean)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

/** @internal */
export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** @internal */
export interface PemBlock {
  readonly label: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly der: Uint8Array
}

/** Every PEM block of a text; throws on a block whose body is not base64. @internal */
export const parsePem = (text: string): Array<PemBlock> => {
  const out: Array<PemBlock> = []
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g
  let match: RegExpExecArray | null
  while ((match = re.exec(text)) !== null) {
    const lines = match[2].split(/\r?\n/)
    const headers: Array<readonly [string, string]> = []
    let i = 0
    while (i < lines.length && /^[A-Za-z-]+:/.test(lines[i])) {
      const idx = lines[i].indexOf(":")
      headers.push([lines[i].slice(0, idx), lines[i].slice(idx + 1).trim()])
      i++
    }
    out.push({ label: match[1], headers, der: fromBase64(lines.slice(i).join("")) })
  }
  return out
}

/** @internal */
export const toPem = (label: string, der: Uint8Array): string => {
  const b64 = toBase64(der)
  const lines: Array<string> = []
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64))
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`
}

/** Copies a view into a fresh ArrayBuffer (WebCrypto and the ASN.1 library want one). @internal */
export const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer => {
  const out = new ArrayBuffer(bytes.length)
  new Uint8Array(out).set(bytes)
  return out
}
