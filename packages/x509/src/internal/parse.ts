/**
 * Parses a DER certificate into everything verification needs, with the strict DER reader
 * of `der.ts`. (This is the per-handshake hot path: a schema-driven decoder such as
 * `@peculiar/asn1-x509` costs about 2 ms per certificate here, the direct walk a few
 * tens of microseconds. The library still decodes CRLs and PKCS#8 structures.)
 *
 * Structural failures throw `Der.DerError`; problems that only matter for verification
 * (duplicate or malformed extensions, ...) are collected in `problems`.
 *
 * @internal
 */
import type { PublicKeyInfo } from "../Certificate.js"
import * as Der from "./der.js"
import * as Dsa from "./dsa.js"
import * as Name from "./name.js"
import { curves, OID, signatureAlgorithmNames } from "./oids.js"

/** @internal */
export interface AlgorithmId {
  readonly oid: string
  /** The raw parameters TLV, `undefined` when absent. */
  readonly params: Uint8Array | undefined
  /** The whole AlgorithmIdentifier DER. */
  readonly der: Uint8Array
}

/** @internal */
export interface Subtree {
  readonly base: Name.GeneralName
}

/** @internal */
export interface Extension {
  readonly oid: string
  readonly critical: boolean
  readonly value: Uint8Array
}

/** @internal */
export interface X509 {
  /** The certificate's DER (a private copy). */
  readonly der: Uint8Array
  readonly version: number
  readonly serial: Uint8Array
  /** The serial's INTEGER contents as encoded (sign byte included). */
  readonly serialRaw: Uint8Array
  readonly tbs: Uint8Array
  readonly signatureAlgorithm: AlgorithmId
  readonly signature: Uint8Array
  readonly issuer: Name.ParsedName
  readonly subject: Name.ParsedName
  readonly notBefore: Date
  readonly notAfter: Date
  readonly spki: Uint8Array
  readonly spkiAlgorithm: AlgorithmId
  readonly publicKeyBits: Uint8Array
  readonly publicKey: PublicKeyInfo
  readonly extensions: ReadonlyArray<Extension>
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined } | undefined
  /** Bit i (0 = digitalSignature) of the KeyUsage, `undefined` when absent. */
  readonly keyUsage: number | undefined
  readonly extKeyUsage: ReadonlyArray<string> | undefined
  readonly subjectAltNames: ReadonlyArray<Name.GeneralName> | undefined
  readonly nameConstraints:
    | {
      readonly permitted: ReadonlyArray<Subtree> | undefined
      readonly excluded: ReadonlyArray<Subtree> | undefined
    }
    | undefined
  readonly subjectKeyId: string | undefined
  readonly authorityKeyId: string | undefined
  /** certificatePolicies: the policy OIDs, in order. */
  readonly policies: ReadonlyArray<string> | undefined
  /** policyMappings: (issuerDomainPolicy, subjectDomainPolicy) pairs. */
  readonly policyMappings: ReadonlyArray<readonly [string, string]> | undefined
  readonly policyConstraints:
    | { readonly requireExplicitPolicy: number | undefined; readonly inhibitPolicyMapping: number | undefined }
    | undefined
  readonly inhibitAnyPolicy: number | undefined
  /** cRLDistributionPoints. */
  readonly crlDistributionPoints: ReadonlyArray<DistributionPoint> | undefined
  /** Verification problems found while parsing (→ GenericError). */
  readonly problems: ReadonlyArray<string>
}

/** A DistributionPointName: full names, or a name relative to the CRL issuer. @internal */
export type DistributionPointName =
  | { readonly kind: "full"; readonly names: ReadonlyArray<Name.GeneralName> }
  | { readonly kind: "relative"; readonly rdn: Uint8Array }

/** @internal */
export interface DistributionPoint {
  readonly name: DistributionPointName | undefined
  /** ReasonFlags bits (bit 1 keyCompromise ... bit 8 aACompromise); `undefined`: all reasons. */
  readonly reasons: number | undefined
  readonly crlIssuer: ReadonlyArray<Name.GeneralName> | undefined
}

/** Reads a BIT STRING of flags as a number, bit 0 first. @internal */
export const readFlags = (buf: Uint8Array, tlv: Der.Tlv): number => {
  const v = Der.value(buf, tlv)
  if (v.length === 0) throw new Der.DerError("empty BIT STRING")
  const unused = v[0]
  if (unused > 7 || (v.length === 1 && unused !== 0)) throw new Der.DerError("bad BIT STRING")
  let n = 0
  for (let bit = 0; bit < (v.length - 1) * 8 - unused && bit < 16; bit++) {
    if ((v[1 + (bit >> 3)] >> (7 - (bit & 7))) & 1) n |= 1 << bit
  }
  return n
}

/** DistributionPointName ::= CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] RDN }. @internal */
export const readDistributionPointName = (buf: Uint8Array, tlv: Der.Tlv): DistributionPointName => {
  const inner = Der.children(buf, tlv)
  if (inner.length !== 1) throw new Der.DerError("bad DistributionPointName")
  const choice = inner[0]
  if (choice.tag === 0xa0) {
    const names = Der.children(buf, choice).map((n) => Name.parseGeneralName(buf, n))
    if (names.length === 0) throw new Der.DerError("empty fullName")
    return { kind: "full", names }
  }
  if (choice.tag === 0xa1) {
    Der.children(buf, choice)
    // re-tag as a SET to compose it with the issuer's name later
    return { kind: "relative", rdn: Der.encode(Der.Tag.SET, Der.value(buf, choice)) }
  }
  throw new Der.DerError("bad DistributionPointName")
}

const parseDistributionPoints = (value: Uint8Array): Array<DistributionPoint> => {
  const items = Der.children(value, Der.readOnly(value, Der.Tag.SEQUENCE))
  if (items.length === 0) throw new Der.DerError("empty CRLDistributionPoints")
  return items.map((item) => {
    let name: DistributionPointName | undefined
    let reasons: number | undefined
    let crlIssuer: Array<Name.GeneralName> | undefined
    let last = -1
    for (const field of Der.children(value, Der.expect(item, Der.Tag.SEQUENCE, "DistributionPoint"))) {
      const n = field.tag & 0x1f
      if ((field.tag & 0xc0) !== 0x80 || n > 2 || n <= last) throw new Der.DerError("bad DistributionPoint")
      last = n
      if (n === 0) name = readDistributionPointName(value, field)
      else if (n === 1) reasons = readFlags(value, field)
      else {
        crlIssuer = Der.children(value, field).map((g) => Name.parseGeneralName(value, g))
        if (crlIssuer.length === 0) throw new Der.DerError("empty cRLIssuer")
      }
    }
    if (name === undefined && crlIssuer === undefined) throw new Der.DerError("DistributionPoint without a name")
    return { name, reasons, crlIssuer }
  })
}

const AnyPolicy = "2.5.29.32.0"

const parsePolicies = (value: Uint8Array, problems: Array<string>): Array<string> => {
  const items = Der.children(value, Der.readOnly(value, Der.Tag.SEQUENCE))
  if (items.length === 0) throw new Der.DerError("empty certificatePolicies")
  const out: Array<string> = []
  for (const info of items) {
    const [oid, qualifiers, ...rest] = Der.children(value, Der.expect(info, Der.Tag.SEQUENCE, "PolicyInformation"))
    if (rest.length > 0) throw new Der.DerError("bad PolicyInformation")
    const policy = Der.readOid(value, oid)
    if (out.includes(policy)) problems.push(`duplicate policy ${policy}`)
    if (qualifiers !== undefined) {
      const list = Der.children(value, Der.expect(qualifiers, Der.Tag.SEQUENCE, "policyQualifiers"))
      if (list.length === 0) throw new Der.DerError("empty policyQualifiers")
      for (const q of list) Der.readOid(value, Der.children(value, Der.expect(q, Der.Tag.SEQUENCE, "qualifier"))[0])
    }
    out.push(policy)
  }
  return out
}

const parsePolicyMappings = (value: Uint8Array): Array<readonly [string, string]> => {
  const items = Der.children(value, Der.readOnly(value, Der.Tag.SEQUENCE))
  if (items.length === 0) throw new Der.DerError("empty policyMappings")
  return items.map((item) => {
    const [a, b, ...rest] = Der.children(value, Der.expect(item, Der.Tag.SEQUENCE, "PolicyMapping"))
    if (rest.length > 0) throw new Der.DerError("bad PolicyMapping")
    return [Der.readOid(value, a), Der.readOid(value, b)] as const
  })
}

const readImplicitSmallInt = (buf: Uint8Array, tlv: Der.Tlv): number => {
  const asInteger = Der.encode(Der.Tag.INTEGER, Der.value(buf, tlv))
  return Der.readSmallInt(asInteger, Der.readOnly(asInteger))
}

const parsePolicyConstraints = (value: Uint8Array): NonNullable<X509["policyConstraints"]> => {
  let requireExplicitPolicy: number | undefined
  let inhibitPolicyMapping: number | undefined
  let last = -1
  const fields = Der.children(value, Der.readOnly(value, Der.Tag.SEQUENCE))
  if (fields.length === 0) throw new Der.DerError("empty PolicyConstraints")
  for (const field of fields) {
    if (field.tag !== 0x80 && field.tag !== 0x81) throw new Der.DerError("bad PolicyConstraints")
    const n = field.tag & 1
    if (n <= last) throw new Der.DerError("bad PolicyConstraints")
    last = n
    const v = readImplicitSmallInt(value, field)
    if (n === 0) requireExplicitPolicy = v
    else inhibitPolicyMapping = v
  }
  return { requireExplicitPolicy, inhibitPolicyMapping }
}

/** @internal */
export const KeyUsageBit = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6
} as const

/** @internal */
export const hasKeyUsage = (x: X509, bit: number): boolean =>
  x.keyUsage === undefined || ((x.keyUsage >> bit) & 1) === 1

/** An AlgorithmIdentifier: its OID, raw parameters and whole DER. @internal */
export const readAlgorithm = (buf: Uint8Array, tlv: Der.Tlv | undefined): AlgorithmId => {
  const seq = Der.expect(tlv, Der.Tag.SEQUENCE, "AlgorithmIdentifier")
  const [oidTlv, params, ...rest] = Der.children(buf, seq)
  if (rest.length > 0) throw new Der.DerError("bad AlgorithmIdentifier")
  return {
    oid: Der.readOid(buf, oidTlv),
    params: params === undefined ? undefined : Der.whole(buf, params).slice(),
    der: Der.whole(buf, seq).slice()
  }
}

const bitLength = (bytes: Uint8Array): number => {
  let i = 0
  while (i < bytes.length && bytes[i] === 0) i++
  if (i === bytes.length) return 0
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]))
}

/** @internal */
export const publicKeyInfo = (alg: AlgorithmId, bits: Uint8Array): PublicKeyInfo => {
  try {
    switch (alg.oid) {
      case OID.rsaEncryption:
      case OID.rsassaPss: {
        const seq = Der.readOnly(bits, Der.Tag.SEQUENCE)
        const [modulus] = Der.children(bits, seq)
        const size = bitLength(Der.value(bits, Der.expect(modulus, Der.Tag.INTEGER, "modulus")))
        return { algorithm: alg.oid === OID.rsaEncryption ? "RSA" : "RSA-PSS", size }
      }
      case OID.ecPublicKey: {
        const curveOid = alg.params !== undefined && alg.params[0] === Der.Tag.OID
          ? Der.decodeOid(Der.value(alg.params, Der.readOnly(alg.params)))
          : undefined
        const curve = curveOid === undefined ? undefined : curves[curveOid]
        return curve === undefined
          ? { algorithm: "EC", size: 0 }
          : { algorithm: "EC", size: curve.size, curve: curve.name }
      }
      case OID.dsa:
        // size 0: the parameters are absent (inherited from the issuer) or unreadable
        return { algorithm: "DSA", size: Dsa.keySize(alg.params) }
      case OID.ed25519:
        return { algorithm: "Ed25519", size: 256 }
      case OID.ed448:
        return { algorithm: "Ed448", size: 456 }
    }
  } catch {
    // fall through: an unreadable key is "unknown"
  }
  return { algorithm: "unknown", size: 0 }
}

const parseKeyUsage = (value: Uint8Array): number => {
  const tlv = Der.readOnly(value, Der.Tag.BIT_STRING)
  const { bytes, unused } = Der.readBitString(value, tlv)
  let n = 0
  for (let bit = 0; bit < bytes.length * 8 - unused && bit < 16; bit++) {
    if ((bytes[bit >> 3] >> (7 - (bit & 7))) & 1) n |= 1 << bit
  }
  return n
}

const parseSubtrees = (buf: Uint8Array, tlv: Der.Tlv): Array<Subtree> => {
  const items = Der.children(buf, tlv)
  if (items.length === 0) throw new Der.DerError("empty GeneralSubtrees")
  return items.map((item) => {
    Der.expect(item, Der.Tag.SEQUENCE, "GeneralSubtree")
    const [base, ...rest] = Der.children(buf, item)
    if (base === undefined) throw new Der.DerError("empty GeneralSubtree")
    // minimum must be 0 (absent) and maximum absent (RFC 5280 4.2.1.10)
    if (rest.length > 0) throw new Der.DerError("GeneralSubtree minimum/maximum not supported")
    return { base: Name.parseGeneralName(buf, base) }
  })
}

const parseNameConstraints = (value: Uint8Array): NonNullable<X509["nameConstraints"]> => {
  const top = Der.readOnly(value, Der.Tag.SEQUENCE)
  let permitted: Array<Subtree> | undefined
  let excluded: Array<Subtree> | undefined
  for (const child of Der.children(value, top)) {
    if (child.tag === 0xa0 && permitted === undefined && excluded === undefined) {
      permitted = parseSubtrees(value, child)
    } else if (child.tag === 0xa1 && excluded === undefined) excluded = parseSubtrees(value, child)
    else throw new Der.DerError("bad NameConstraints")
  }
  if (permitted === undefined && excluded === undefined) throw new Der.DerError("empty NameConstraints")
  return { permitted, excluded }
}

const parseBasicConstraints = (value: Uint8Array): NonNullable<X509["basicConstraints"]> => {
  const top = Der.readOnly(value, Der.Tag.SEQUENCE)
  const items = Der.children(value, top)
  let i = 0
  let ca = false
  if (items[i]?.tag === Der.Tag.BOOLEAN) {
    const v = Der.value(value, items[i])
    if (v.length !== 1 || (v[0] !== 0 && v[0] !== 0xff)) throw new Der.DerError("bad BOOLEAN")
    if (v[0] === 0) throw new Der.DerError("DEFAULT FALSE encoded") // DER forbids encoding the default
    ca = true
    i++
  }
  let pathLen: number | undefined
  if (items[i] !== undefined) {
    pathLen = Der.readSmallInt(value, items[i])
    i++
  }
  if (i !== items.length) throw new Der.DerError("bad BasicConstraints")
  return { ca, pathLen }
}

const digits = (text: string, from: number, length: number): number => {
  const part = text.slice(from, from + length)
  if (!/^[0-9]+$/.test(part) || part.length !== length) throw new Der.DerError("bad time")
  return Number(part)
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as RFC 5280 profiles them. @internal */
export const readTime = (buf: Uint8Array, tlv: Der.Tlv): Date => {
  let text = ""
  for (const b of Der.value(buf, tlv)) text += String.fromCharCode(b)
  let year: number
  let rest: number
  if (tlv.tag === Der.Tag.UTCTime && text.length === 13) {
    const yy = digits(text, 0, 2)
    year = yy < 50 ? 2000 + yy : 1900 + yy
    rest = 2
  } else if (tlv.tag === Der.Tag.GeneralizedTime && text.length === 15) {
    year = digits(text, 0, 4)
    rest = 4
  } else throw new Der.DerError("bad time")
  if (text[text.length - 1] !== "Z") throw new Der.DerError("time not in UTC")
  const month = digits(text, rest, 2)
  const day = digits(text, rest + 2, 2)
  const hour = digits(text, rest + 4, 2)
  const minute = digits(text, rest + 6, 2)
  const second = digits(text, rest + 8, 2)
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw new Der.DerError("bad time")
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second)
  if (new Date(ms).getUTCDate() !== day) throw new Der.DerError("bad time")
  const date = new Date(ms)
  if (year < 100) date.setUTCFullYear(year)
  return date
}

/**
 * A serial number's INTEGER contents as text: lower-case hex without leading zero octets; a
 * negative one (which non-conforming CAs issue, RFC 5280 4.1.2.2) as `-` and its magnitude,
 * as OpenSSL prints it, so that 255 (`00 ff`) and -1 (`ff`) never read alike.
 *
 * @internal
 */
export const serialHex = (raw: Uint8Array): string => {
  if (raw.length > 0 && (raw[0] & 0x80) !== 0) {
    const magnitude = (1n << BigInt(raw.length * 8)) - BigInt(`0x${Der.toHex(raw)}`)
    const hex = magnitude.toString(16)
    return `-${hex.length % 2 === 0 ? hex : `0${hex}`}`
  }
  let b = raw
  while (b.length > 1 && b[0] === 0) b = b.subarray(1)
  return Der.toHex(b)
}

/** A SIGNED{...} structure (RFC 5280 4.1.1 / 5.1.1), read from a private copy of `input`. @internal */
export interface Signed {
  readonly der: Uint8Array
  readonly tbsTlv: Der.Tlv
  /** The fields of the TBS SEQUENCE. */
  readonly tbsItems: Array<Der.Tlv>
  readonly signatureAlgorithm: AlgorithmId
  readonly signature: Uint8Array
  /**
   * The problems found so far, for the caller to add to: a signature BIT STRING with unused
   * bits (no signature algorithm has any) makes a readable certificate or CRL that fails
   * every path it is part of or covers (PKITS 4.1.2's Bad Signed CA is encoded so).
   */
  readonly problems: Array<string>
}

/**
 * Reads `SEQUENCE { tbs SEQUENCE, signatureAlgorithm, signatureValue BIT STRING }` over a
 * private copy of `input`; `what` names the structure (in errors too).
 *
 * @internal
 */
export const readSigned = (input: Uint8Array, what: "Certificate" | "CertificateList"): Signed => {
  // (a copy into a plain Uint8Array: a node Buffer's slice() is a view of the same bytes, and so
  // would be every field sliced from it)
  const der = new Uint8Array(input)
  const top = Der.readOnly(der, Der.Tag.SEQUENCE)
  const [tbsTlv, algTlv, sigTlv, ...rest] = Der.children(der, top)
  if (rest.length > 0 || sigTlv === undefined) throw new Der.DerError(`bad ${what}`)
  Der.expect(tbsTlv, Der.Tag.SEQUENCE, what === "Certificate" ? "TBSCertificate" : "TBSCertList")
  const signatureAlgorithm = readAlgorithm(der, algTlv)
  const sig = Der.readBitString(der, sigTlv)
  return {
    der,
    tbsTlv,
    tbsItems: Der.children(der, tbsTlv),
    signatureAlgorithm,
    signature: sig.bytes.slice(),
    problems: sig.unused === 0 ? [] : ["signature with unused bits"]
  }
}

/** Parses a DER certificate; throws `Der.DerError` (or the library's errors) when it is not one. @internal */
export const parseCertificate = (input: Uint8Array): X509 => {
  // Raw structure with the strict reader.
  const { der, problems, signature, signatureAlgorithm, tbsItems, tbsTlv } = readSigned(input, "Certificate")
  let i = 0
  let version = 1
  if (tbsItems[0]?.tag === 0xa0) {
    const inner = Der.children(der, tbsItems[0])
    if (inner.length !== 1) throw new Der.DerError("bad version")
    version = Der.readSmallInt(der, inner[0]) + 1
    if (version === 1) problems.push("explicitly encoded default version")
    i++
  }
  const serialTlv = Der.expect(tbsItems[i++], Der.Tag.INTEGER, "serialNumber")
  const tbsAlg = readAlgorithm(der, tbsItems[i++])
  const issuer = Name.parseName(der, Der.expect(tbsItems[i++], Der.Tag.SEQUENCE, "issuer"))
  const validity = Der.children(der, Der.expect(tbsItems[i++], Der.Tag.SEQUENCE, "validity"))
  if (validity.length !== 2) throw new Der.DerError("bad validity")
  const notBefore = readTime(der, validity[0])
  const notAfter = readTime(der, validity[1])
  const subject = Name.parseName(der, Der.expect(tbsItems[i++], Der.Tag.SEQUENCE, "subject"))
  const spkiTlv = Der.expect(tbsItems[i++], Der.Tag.SEQUENCE, "subjectPublicKeyInfo")
  const [spkiAlgTlv, spkiBitsTlv, ...spkiRest] = Der.children(der, spkiTlv)
  if (spkiRest.length > 0) throw new Der.DerError("bad SubjectPublicKeyInfo")
  const spkiAlgorithm = readAlgorithm(der, spkiAlgTlv)
  const publicKeyBits = Der.readBitString(der, spkiBitsTlv).bytes.slice()

  // optional unique identifiers, then extensions
  let extensionsTlv: Der.Tlv | undefined
  for (; i < tbsItems.length; i++) {
    const tag = tbsItems[i].tag
    if (tag === 0x81 || tag === 0xa1 || tag === 0x82 || tag === 0xa2) continue
    if (tag === 0xa3 && extensionsTlv === undefined && i === tbsItems.length - 1) extensionsTlv = tbsItems[i]
    else throw new Der.DerError("unexpected TBSCertificate field")
  }
  const rawExtensions: Array<Extension> = []
  if (extensionsTlv !== undefined) {
    const inner = Der.children(der, extensionsTlv)
    if (inner.length !== 1) throw new Der.DerError("bad extensions")
    const list = Der.children(der, Der.expect(inner[0], Der.Tag.SEQUENCE, "Extensions"))
    if (list.length === 0) problems.push("empty extensions")
    for (const item of list) {
      const fields = Der.children(der, Der.expect(item, Der.Tag.SEQUENCE, "Extension"))
      const oid = Der.readOid(der, fields[0])
      let critical = false
      let k = 1
      if (fields[k]?.tag === Der.Tag.BOOLEAN) {
        const b = Der.value(der, fields[k])
        if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw new Der.DerError("bad BOOLEAN")
        if (b[0] === 0) problems.push("extension with an explicit critical FALSE")
        critical = b[0] === 0xff
        k++
      }
      const value = Der.value(der, Der.expect(fields[k], Der.Tag.OCTET_STRING, "extnValue")).slice()
      if (k + 1 !== fields.length) throw new Der.DerError("bad Extension")
      rawExtensions.push({ oid, critical, value })
    }
  }

  if (!Der.equalBytes(tbsAlg.der, signatureAlgorithm.der)) problems.push("signature algorithm mismatch")
  const serialRaw = Der.value(der, serialTlv)
  if (serialRaw.length === 0) throw new Der.DerError("empty serial")
  if (serialRaw.length > 1 && serialRaw[0] === 0 && (serialRaw[1] & 0x80) === 0) {
    throw new Der.DerError("non-minimal serial")
  }
  let serial = serialRaw.slice()
  while (serial.length > 1 && serial[0] === 0) serial = serial.subarray(1)

  const extensions: Array<Extension> = []
  let basicConstraints: X509["basicConstraints"]
  let keyUsage: number | undefined
  let extKeyUsage: Array<string> | undefined
  let subjectAltNames: Array<Name.GeneralName> | undefined
  let nameConstraints: X509["nameConstraints"]
  let subjectKeyId: string | undefined
  let authorityKeyId: string | undefined
  let policies: Array<string> | undefined
  let policyMappings: X509["policyMappings"]
  let policyConstraints: X509["policyConstraints"]
  let inhibitAnyPolicy: number | undefined
  let crlDistributionPoints: X509["crlDistributionPoints"]
  if (extensionsTlv !== undefined && version !== 3) problems.push("extensions in a non-v3 certificate")
  const seen = new Set<string>()
  for (const ext of rawExtensions) {
    const value = ext.value
    extensions.push(ext)
    if (seen.has(ext.oid)) problems.push(`duplicate extension ${ext.oid}`)
    seen.add(ext.oid)
    try {
      switch (ext.oid) {
        case OID.basicConstraints:
          basicConstraints = parseBasicConstraints(value)
          break
        case OID.keyUsage:
          keyUsage = parseKeyUsage(value)
          if (keyUsage === 0) problems.push("empty keyUsage")
          break
        case OID.extKeyUsage: {
          extKeyUsage = Der.children(value, Der.readOnly(value, Der.Tag.SEQUENCE)).map((tlv) => Der.readOid(value, tlv))
          if (extKeyUsage.length === 0) problems.push("empty extKeyUsage")
          break
        }
        case OID.subjectAltName:
          subjectAltNames = Name.parseGeneralNames(value)
          break
        case OID.nameConstraints:
          nameConstraints = parseNameConstraints(value)
          break
        case OID.subjectKeyIdentifier:
          subjectKeyId = Der.toHex(Der.value(value, Der.readOnly(value, Der.Tag.OCTET_STRING)))
          break
        case OID.authorityKeyIdentifier: {
          const fields = Der.children(value, Der.readOnly(value, Der.Tag.SEQUENCE))
          let last = -1
          for (const field of fields) {
            const n = field.tag & 0x1f
            if ((field.tag & 0xc0) !== 0x80 || n > 2 || n <= last) throw new Der.DerError("bad AuthorityKeyIdentifier")
            last = n
            if (field.tag === 0x80) authorityKeyId = Der.toHex(Der.value(value, field))
          }
          break
        }
        case OID.certificatePolicies:
          policies = parsePolicies(value, problems)
          break
        case OID.policyMappings:
          policyMappings = parsePolicyMappings(value)
          if (policyMappings.some(([a, b]) => a === AnyPolicy || b === AnyPolicy)) {
            problems.push("anyPolicy in policyMappings")
          }
          break
        case OID.policyConstraints:
          policyConstraints = parsePolicyConstraints(value)
          break
        case OID.inhibitAnyPolicy:
          inhibitAnyPolicy = Der.readSmallInt(value, Der.readOnly(value, Der.Tag.INTEGER))
          break
        case OID.crlDistributionPoints:
          crlDistributionPoints = parseDistributionPoints(value)
          break
      }
    } catch (cause) {
      problems.push(`malformed extension ${ext.oid}: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
  }

  return {
    der,
    version,
    serial: serial.slice(),
    serialRaw: serialRaw.slice(),
    tbs: Der.whole(der, tbsTlv).slice(),
    signatureAlgorithm,
    signature,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki: Der.whole(der, spkiTlv).slice(),
    spkiAlgorithm,
    publicKeyBits,
    publicKey: publicKeyInfo(spkiAlgorithm, publicKeyBits),
    extensions,
    basicConstraints,
    keyUsage,
    extKeyUsage,
    subjectAltNames,
    nameConstraints,
    subjectKeyId,
    authorityKeyId,
    policies,
    policyMappings,
    policyConstraints,
    inhibitAnyPolicy,
    crlDistributionPoints,
    problems
  }
}

/** @internal */
export const signatureAlgorithmName = (alg: AlgorithmId): string => signatureAlgorithmNames[alg.oid] ?? alg.oid
