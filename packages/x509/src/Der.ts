/**
 * The one strict DER reader (and small writer) of effect-tls, with PEM, base64 and hex
 * helpers. Readers throw `DerError` on anything that is not minimal, definite-length DER;
 * callers at a public boundary turn it into a typed error.
 *
 * @example
 * ```ts
 * import { Der } from "@effect-tls/x509"
 *
 * declare const bytes: Uint8Array
 *
 * const top = Der.readOnly(bytes, Der.Tag.SEQUENCE)
 * for (const child of Der.children(bytes, top)) console.log(child.tag, Der.value(bytes, child))
 * ```
 *
 * @since 0.1.0
 */
import * as internal from "./internal/der.js"

/**
 * @since 0.1.0
 * @category errors
 */
export const DerError: typeof internal.DerError = internal.DerError

/**
 * @since 0.1.0
 * @category errors
 */
export type DerError = internal.DerError

/**
 * One TLV: its tag octet and the offsets of its header, value and end in the buffer.
 *
 * @since 0.1.0
 * @category models
 */
export type Tlv = internal.Tlv

/**
 * Universal tags.
 *
 * @since 0.1.0
 * @category constants
 */
export const Tag: typeof internal.Tag = internal.Tag

/**
 * Reads the TLV at `offset` (bounded by `limit`).
 *
 * @since 0.1.0
 * @category readers
 */
export const readTlv: (buf: Uint8Array, offset: number, limit?: number) => Tlv = internal.readTlv

/**
 * Reads exactly one TLV spanning the whole buffer, optionally of `expectedTag`.
 *
 * @since 0.1.0
 * @category readers
 */
export const readOnly: (buf: Uint8Array, expectedTag?: number) => Tlv = internal.readOnly

/**
 * The children of a constructed TLV.
 *
 * @since 0.1.0
 * @category readers
 */
export const children: (buf: Uint8Array, parent: Tlv) => Array<Tlv> = internal.children

/**
 * The value octets of a TLV (a view, not a copy).
 *
 * @since 0.1.0
 * @category readers
 */
export const value: (buf: Uint8Array, tlv: Tlv) => Uint8Array = internal.value

/**
 * The whole encoding of a TLV, header included (a view).
 *
 * @since 0.1.0
 * @category readers
 */
export const whole: (buf: Uint8Array, tlv: Tlv) => Uint8Array = internal.whole

/**
 * `tlv`, when it is present and has `tag`; else throws `DerError` naming `what`.
 *
 * @since 0.1.0
 * @category readers
 */
export const expect: (tlv: Tlv | undefined, tag: number, what: string) => Tlv = internal.expect

/**
 * An OBJECT IDENTIFIER in dotted form.
 *
 * @since 0.1.0
 * @category readers
 */
export const readOid: (buf: Uint8Array, tlv: Tlv | undefined) => string = internal.readOid

/**
 * A non-negative INTEGER that fits a number.
 *
 * @since 0.1.0
 * @category readers
 */
export const readSmallInt: (buf: Uint8Array, tlv: Tlv | undefined) => number = internal.readSmallInt

/**
 * A BIT STRING's octets and unused-bit count.
 *
 * @since 0.1.0
 * @category readers
 */
export const readBitString: (buf: Uint8Array, tlv: Tlv | undefined) => { bytes: Uint8Array; unused: number } =
  internal.readBitString

/**
 * Encodes a TLV from its tag and value parts.
 *
 * @since 0.1.0
 * @category writers
 */
export const encode: (tag: number, ...parts: ReadonlyArray<Uint8Array>) => Uint8Array = internal.encode

/**
 * Encodes an OBJECT IDENTIFIER.
 *
 * @since 0.1.0
 * @category writers
 */
export const encodeOid: (oid: string) => Uint8Array = internal.encodeOid

/**
 * Every PEM block of a text (label, headers, DER); throws `DerError` on a bad body.
 *
 * @since 0.1.0
 * @category pem
 */
export const parsePem: (text: string) => Array<internal.PemBlock> = internal.parsePem

/**
 * @since 0.1.0
 * @category pem
 */
export const toPem: (label: string, der: Uint8Array) => string = internal.toPem

/**
 * Lower-case hex.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toHex: (bytes: Uint8Array) => string = internal.toHex

/**
 * @since 0.1.0
 * @category conversions
 */
export const equalBytes: (a: Uint8Array, b: Uint8Array) => boolean = internal.equalBytes
