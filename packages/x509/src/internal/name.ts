/**
 * Distinguished names and general names, read from raw DER.
 *
 * @internal
 */
import type { DistinguishedName, NameAttribute } from "../Certificate.js"
import * as Der from "./der.js"
import { TextDecoder } from "./webcrypto.js"

const shortNames: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.4": "SN",
  "2.5.4.5": "serialNumber",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.9": "STREET",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.12": "title",
  "2.5.4.42": "GN",
  "2.5.4.97": "organizationIdentifier",
  "0.9.2342.19200300.100.1.1": "UID",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "emailAddress"
}

const latin1 = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i])
  return out
}

/** Decodes a directory string; `undefined` when its type is not a string type. @internal */
export const decodeString = (tag: number, bytes: Uint8Array): string | undefined => {
  switch (tag) {
    case Der.Tag.UTF8String:
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes)
    case Der.Tag.PrintableString:
    case Der.Tag.IA5String:
    case Der.Tag.TeletexString:
    case 0x1a: // VisibleString
    case 0x12: // NumericString
      return latin1(bytes)
    case Der.Tag.BMPString: {
      if (bytes.length % 2 !== 0) throw new Der.DerError("bad BMPString")
      let out = ""
      for (let i = 0; i < bytes.length; i += 2) out += String.fromCharCode((bytes[i] << 8) | bytes[i + 1])
      return out
    }
    case Der.Tag.UniversalString: {
      if (bytes.length % 4 !== 0) throw new Der.DerError("bad UniversalString")
      let out = ""
      for (let i = 0; i < bytes.length; i += 4) {
        out += String.fromCodePoint(
          ((bytes[i] << 24) | (bytes[i + 1] << 16) | (bytes[i + 2] << 8) | bytes[i + 3]) >>> 0
        )
      }
      return out
    }
    default:
      return undefined
  }
}

const escape = (value: string): string => {
  let out = value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`).replace(/\0/g, "\\00")
  if (out.startsWith("#") || out.startsWith(" ")) out = `\\${out}`
  if (out.endsWith(" ") && out.length > 1 && !out.endsWith("\\ ")) out = `${out.slice(0, -1)}\\ `
  return out
}

/** @internal */
export interface ParsedName extends DistinguishedName {
  /** One array of attributes per RDN, encoding order. */
  readonly rdns: ReadonlyArray<ReadonlyArray<NameAttribute>>
  /**
   * The key used to chain issuers to subjects (RFC 5280 §7.1): the attribute values after
   * RFC 4518 string preparation, RDNs in order, the attributes of an RDN as a set.
   */
  readonly key: string
}

/**
 * RFC 4518 preparation for caseIgnoreMatch: NFKC, case folding, insignificant space
 * handling (leading, trailing and repeated spaces), control characters removed.
 *
 * @internal
 */
export const prepare = (value: string): string =>
  value
    .normalize("NFKC")
    // map: characters mapped to nothing (RFC 4518 §2.2), other white space to SPACE
    .replace(/\p{Default_Ignorable_Code_Point}|\uFFFC/gu, "")
    .replace(/[\t\n\v\f\r\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/g, " ")
    .toLowerCase()
    .normalize("NFKC")
    .trim()
    .replace(/ +/g, " ")

/** Parses a Name whose TLV starts at `tlv` in `buf`. @internal */
export const parseName = (buf: Uint8Array, tlv: Der.Tlv): ParsedName => {
  Der.expect(tlv, Der.Tag.SEQUENCE, "Name")
  const rdns: Array<Array<NameAttribute>> = []
  const texts: Array<string> = []
  const keys: Array<string> = []
  for (const set of Der.children(buf, tlv)) {
    Der.expect(set, Der.Tag.SET, "RelativeDistinguishedName")
    const attrs: Array<NameAttribute> = []
    const parts: Array<string> = []
    const keyParts: Array<string> = []
    const items = Der.children(buf, set)
    if (items.length === 0) throw new Der.DerError("empty RDN")
    for (const atv of items) {
      Der.expect(atv, Der.Tag.SEQUENCE, "AttributeTypeAndValue")
      const [typeTlv, valueTlv, ...rest] = Der.children(buf, atv)
      if (valueTlv === undefined || rest.length > 0) throw new Der.DerError("bad AttributeTypeAndValue")
      const oid = Der.readOid(buf, typeTlv)
      const decoded = decodeString(valueTlv.tag, Der.value(buf, valueTlv))
      const type = shortNames[oid] ?? oid
      const text = decoded ?? `#${Der.toHex(Der.whole(buf, valueTlv))}`
      attrs.push({ type, oid, value: text })
      keyParts.push(`${oid}=${decoded === undefined ? text : JSON.stringify(prepare(decoded))}`)
      parts.push(`${type}=${decoded === undefined ? text : escape(decoded)}`)
    }
    rdns.push(attrs)
    texts.push(parts.join("+"))
    keys.push(keyParts.sort().join("+"))
  }
  const der = Der.whole(buf, tlv).slice()
  return {
    der,
    text: texts.reverse().join(","),
    attributes: rdns.flat(),
    rdns,
    key: keys.join(",")
  }
}

/** @internal */
export const parseNameDer = (der: Uint8Array): ParsedName => parseName(der, Der.readOnly(der, Der.Tag.SEQUENCE))

/** @internal */
export type GeneralName =
  | { readonly kind: "dns"; readonly value: string }
  | { readonly kind: "ip"; readonly bytes: Uint8Array }
  | { readonly kind: "email"; readonly value: string }
  | { readonly kind: "uri"; readonly value: string }
  | { readonly kind: "dn"; readonly name: ParsedName }
  | { readonly kind: "other"; readonly tag: number }

const ia5 = (bytes: Uint8Array): string => {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7e) throw new Der.DerError("non-ASCII IA5String")
  return latin1(bytes)
}

/** Parses one GeneralName. @internal */
export const parseGeneralName = (buf: Uint8Array, tlv: Der.Tlv): GeneralName => {
  switch (tlv.tag) {
    case 0x81:
      return { kind: "email", value: ia5(Der.value(buf, tlv)) }
    case 0x82:
      return { kind: "dns", value: ia5(Der.value(buf, tlv)) }
    case 0x86:
      return { kind: "uri", value: ia5(Der.value(buf, tlv)) }
    case 0x87:
      return { kind: "ip", bytes: Der.value(buf, tlv).slice() }
    case 0xa4: {
      const inner = Der.children(buf, tlv)
      if (inner.length !== 1) throw new Der.DerError("bad directoryName")
      return { kind: "dn", name: parseName(buf, inner[0]) }
    }
    case 0xa0:
    case 0xa3:
    case 0xa5:
    case 0x88:
      return { kind: "other", tag: tlv.tag }
    default:
      throw new Der.DerError(`unknown GeneralName tag ${tlv.tag}`)
  }
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName. @internal */
export const parseGeneralNames = (der: Uint8Array): Array<GeneralName> => {
  const top = Der.readOnly(der, Der.Tag.SEQUENCE)
  const items = Der.children(der, top)
  if (items.length === 0) throw new Der.DerError("empty GeneralNames")
  return items.map((item) => parseGeneralName(der, item))
}

/** IPv4 dotted or RFC 5952 IPv6 text. @internal */
export const formatIp = (bytes: Uint8Array): string => {
  if (bytes.length === 4) return Array.from(bytes).join(".")
  if (bytes.length === 16) {
    const groups: Array<number> = []
    for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1])
    let bestStart = -1
    let bestLen = 0
    for (let i = 0; i < 8;) {
      if (groups[i] !== 0) {
        i++
        continue
      }
      let j = i
      while (j < 8 && groups[j] === 0) j++
      if (j - i > bestLen) {
        bestStart = i
        bestLen = j - i
      }
      i = j
    }
    const hex = groups.map((g) => g.toString(16))
    if (bestLen < 2) return hex.join(":")
    return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`
  }
  return Der.toHex(bytes)
}

/** Parses an IPv4 or IPv6 text address into octets; `undefined` when it is not one. @internal */
export const parseIp = (text: string): Uint8Array | undefined => {
  let s = text
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1)
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s)
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number)
    if (parts.some((p, i) => p > 255 || (v4[i + 1].length > 1 && v4[i + 1].startsWith("0")))) return undefined
    return new Uint8Array(parts)
  }
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return undefined
  const halves = s.split("::")
  if (halves.length > 2) return undefined
  const toGroups = (part: string): Array<number> | undefined => {
    if (part === "") return []
    const out: Array<number> = []
    const pieces = part.split(":")
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]
      if (piece.includes(".")) {
        if (i !== pieces.length - 1) return undefined
        const v4bytes = parseIp(piece)
        if (v4bytes === undefined || v4bytes.length !== 4) return undefined
        out.push((v4bytes[0] << 8) | v4bytes[1], (v4bytes[2] << 8) | v4bytes[3])
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined
        out.push(parseInt(piece, 16))
      }
    }
    return out
  }
  const left = toGroups(halves[0])
  const right = halves.length === 2 ? toGroups(halves[1]) : []
  if (left === undefined || right === undefined) return undefined
  let groups: Array<number>
  if (halves.length === 2) {
    const fill = 8 - left.length - right.length
    if (fill < 1) return undefined
    groups = [...left, ...new Array<number>(fill).fill(0), ...right]
  } else {
    groups = left
  }
  if (groups.length !== 8) return undefined
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8
    out[i * 2 + 1] = g & 0xff
  })
  return out
}
