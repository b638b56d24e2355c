/**
 * Certificate revocation lists (RFC 5280 section 5), read with the strict DER reader.
 *
 * @internal
 */
import * as Der from "./der.js"
import * as Name from "./name.js"
import { OID } from "./oids.js"
import type { AlgorithmId, DistributionPointName } from "./parse.js"
import { readAlgorithm, readDistributionPointName, readFlags, readSigned, readTime, serialHex } from "./parse.js"

/** @internal */
export interface CrlEntry {
  /** Hex of the serial's INTEGER contents, minimal two's complement (sign kept). */
  readonly serial: string
  /** CRLReason (0 unspecified ... 10 aACompromise), `undefined` when absent. */
  readonly reason: number | undefined
  /** For an indirect CRL: the certificate issuer of this entry (RFC 5280 §5.3.3). */
  readonly certificateIssuer: Name.ParsedName | undefined
}

/** @internal */
export interface IssuingDistributionPoint {
  readonly distributionPoint: DistributionPointName | undefined
  readonly onlyContainsUserCerts: boolean
  readonly onlyContainsCACerts: boolean
  readonly onlySomeReasons: number | undefined
  readonly indirectCrl: boolean
  readonly onlyContainsAttributeCerts: boolean
}

/** @internal */
export interface ParsedCrl {
  readonly der: Uint8Array
  readonly tbs: Uint8Array
  readonly signatureAlgorithm: AlgorithmId
  readonly signature: Uint8Array
  readonly issuer: Name.ParsedName
  readonly thisUpdate: Date
  readonly nextUpdate: Date | undefined
  /** The serials as `Certificate.serialNumber` spells them (the public `revokedSerials`). */
  readonly revoked: ReadonlySet<string>
  readonly entries: ReadonlyArray<CrlEntry>
  readonly authorityKeyId: string | undefined
  readonly crlNumber: bigint | undefined
  /** deltaCRLIndicator's BaseCRLNumber: set on a delta CRL. */
  readonly baseCrlNumber: bigint | undefined
  readonly idp: IssuingDistributionPoint | undefined
  /** Why this CRL must not be relied upon (→ GenericError when it concerns a path). */
  readonly problems: ReadonlyArray<string>
}

/** The INTEGER contents, minimal two's complement, as hex. @internal */
export const integerKey = (bytes: Uint8Array): string => {
  if (bytes.length === 0) throw new Der.DerError("empty INTEGER")
  let b = bytes
  while (b.length > 1 && ((b[0] === 0 && (b[1] & 0x80) === 0) || (b[0] === 0xff && (b[1] & 0x80) !== 0))) {
    b = b.subarray(1)
  }
  return Der.toHex(b)
}

const readBigInt = (buf: Uint8Array, tlv: Der.Tlv | undefined): bigint => {
  const bytes = Der.value(buf, Der.expect(tlv, Der.Tag.INTEGER, "INTEGER"))
  if (bytes.length === 0 || bytes.length > 20 || (bytes[0] & 0x80) !== 0) throw new Der.DerError("bad CRL number")
  return BigInt(`0x${Der.toHex(bytes)}`)
}

const readBoolean = (buf: Uint8Array, tlv: Der.Tlv): boolean => {
  const v = Der.value(buf, tlv)
  if (v.length !== 1 || (v[0] !== 0 && v[0] !== 0xff)) throw new Der.DerError("bad BOOLEAN")
  if (v[0] === 0) throw new Der.DerError("DEFAULT FALSE encoded")
  return true
}

/** The BOOLEAN fields of IssuingDistributionPoint, by context tag number. */
const idpBooleans = {
  1: "onlyContainsUserCerts",
  2: "onlyContainsCACerts",
  4: "indirectCrl",
  5: "onlyContainsAttributeCerts"
} as const

const parseIdp = (value: Uint8Array): IssuingDistributionPoint => {
  const fields = Der.children(value, Der.readOnly(value, Der.Tag.SEQUENCE))
  const out: { -readonly [K in keyof IssuingDistributionPoint]: IssuingDistributionPoint[K] } = {
    distributionPoint: undefined,
    onlyContainsUserCerts: false,
    onlyContainsCACerts: false,
    onlySomeReasons: undefined,
    indirectCrl: false,
    onlyContainsAttributeCerts: false
  }
  let last = -1
  for (const field of fields) {
    const n = field.tag & 0x1f
    if ((field.tag & 0xc0) !== 0x80 || n > 5 || n <= last) throw new Der.DerError("bad IssuingDistributionPoint")
    last = n
    if (n === 0) out.distributionPoint = readDistributionPointName(value, field)
    else if (n === 3) out.onlySomeReasons = readFlags(value, field)
    else out[idpBooleans[n as 1 | 2 | 4 | 5]] = readBoolean(value, field)
  }
  if (
    [out.onlyContainsUserCerts, out.onlyContainsCACerts, out.onlyContainsAttributeCerts].filter((b) => b).length > 1
  ) {
    throw new Der.DerError("IssuingDistributionPoint with more than one onlyContains")
  }
  return out
}

interface RawExtension {
  readonly oid: string
  readonly critical: boolean
  readonly value: Uint8Array
}

const readExtensions = (buf: Uint8Array, tlv: Der.Tlv): Array<RawExtension> =>
  Der.children(buf, Der.expect(tlv, Der.Tag.SEQUENCE, "Extensions")).map((item) => {
    const fields = Der.children(buf, Der.expect(item, Der.Tag.SEQUENCE, "Extension"))
    const oid = Der.readOid(buf, fields[0])
    let k = 1
    let critical = false
    if (fields[k]?.tag === Der.Tag.BOOLEAN) {
      const b = Der.value(buf, fields[k])
      if (b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) throw new Der.DerError("bad BOOLEAN")
      critical = b[0] === 0xff
      k++
    }
    const value = Der.value(buf, Der.expect(fields[k], Der.Tag.OCTET_STRING, "extnValue"))
    if (k + 1 !== fields.length) throw new Der.DerError("bad Extension")
    return { oid, critical, value }
  })

const directoryName = (names: ReadonlyArray<Name.GeneralName>): Name.ParsedName | undefined => {
  for (const n of names) if (n.kind === "dn") return n.name
  return undefined
}

/** Parses a DER CRL; throws when it is not one. @internal */
export const parseCrl = (input: Uint8Array): ParsedCrl => {
  const { der, problems, signature, signatureAlgorithm, tbsItems, tbsTlv } = readSigned(input, "CertificateList")
  let i = 0
  if (tbsItems[0]?.tag === Der.Tag.INTEGER) {
    if (Der.readSmallInt(der, tbsItems[0]) !== 1) throw new Der.DerError("unknown CRL version")
    i++
  }
  const innerAlg = readAlgorithm(der, tbsItems[i++])
  const issuer = Name.parseName(der, Der.expect(tbsItems[i++], Der.Tag.SEQUENCE, "issuer"))
  const thisTlv = tbsItems[i++]
  if (thisTlv === undefined) throw new Der.DerError("CRL without thisUpdate")
  const thisUpdate = readTime(der, thisTlv)
  let nextUpdate: Date | undefined
  if (
    tbsItems[i] !== undefined && (tbsItems[i].tag === Der.Tag.UTCTime || tbsItems[i].tag === Der.Tag.GeneralizedTime)
  ) {
    nextUpdate = readTime(der, tbsItems[i++])
  }
  let revokedTlv: Der.Tlv | undefined
  if (tbsItems[i]?.tag === Der.Tag.SEQUENCE) revokedTlv = tbsItems[i++]
  let extensionsTlv: Der.Tlv | undefined
  if (tbsItems[i]?.tag === 0xa0) {
    const inner = Der.children(der, tbsItems[i++])
    if (inner.length !== 1) throw new Der.DerError("bad crlExtensions")
    extensionsTlv = inner[0]
  }
  if (i !== tbsItems.length) throw new Der.DerError("unexpected TBSCertList field")
  if (!Der.equalBytes(innerAlg.der, signatureAlgorithm.der)) problems.push("signature algorithm mismatch")

  let crlNumber: bigint | undefined
  let baseCrlNumber: bigint | undefined
  let authorityKeyId: string | undefined
  let idp: IssuingDistributionPoint | undefined
  const seen = new Set<string>()
  for (const ext of extensionsTlv === undefined ? [] : readExtensions(der, extensionsTlv)) {
    if (seen.has(ext.oid)) problems.push(`duplicate CRL extension ${ext.oid}`)
    seen.add(ext.oid)
    try {
      switch (ext.oid) {
        case OID.crlNumber:
          crlNumber = readBigInt(ext.value, Der.readOnly(ext.value))
          if (ext.critical) problems.push("critical CRLNumber")
          break
        case OID.authorityKeyIdentifier: {
          for (const field of Der.children(ext.value, Der.readOnly(ext.value, Der.Tag.SEQUENCE))) {
            if (field.tag === 0x80) authorityKeyId = Der.toHex(Der.value(ext.value, field))
          }
          break
        }
        case OID.issuingDistributionPoint:
          idp = parseIdp(ext.value)
          if (!ext.critical) problems.push("non-critical issuingDistributionPoint")
          break
        case OID.deltaCrlIndicator:
          baseCrlNumber = readBigInt(ext.value, Der.readOnly(ext.value))
          if (!ext.critical) problems.push("non-critical deltaCRLIndicator")
          break
        case OID.freshestCrl:
        case OID.authorityInfoAccess:
        case OID.issuerAltName:
          break
        default:
          if (ext.critical) problems.push(`unknown critical CRL extension ${ext.oid}`)
      }
    } catch (cause) {
      problems.push(`malformed CRL extension ${ext.oid}: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
  }
  if (crlNumber === undefined) problems.push("CRL without CRLNumber")

  const revoked = new Set<string>()
  const entries: Array<CrlEntry> = []
  // entries of an indirect CRL belong to the CRL issuer until a certificateIssuer says otherwise
  let currentIssuer: Name.ParsedName | undefined
  for (const entry of revokedTlv === undefined ? [] : Der.children(der, revokedTlv)) {
    const [serialTlv, dateTlv, extTlv, ...more] = Der.children(der, Der.expect(entry, Der.Tag.SEQUENCE, "revoked"))
    if (more.length > 0 || dateTlv === undefined) throw new Der.DerError("bad revoked certificate entry")
    const serialBytes = Der.value(der, Der.expect(serialTlv, Der.Tag.INTEGER, "userCertificate"))
    readTime(der, dateTlv)
    let reason: number | undefined
    for (const ext of extTlv === undefined ? [] : readExtensions(der, extTlv)) {
      try {
        switch (ext.oid) {
          case OID.crlReason: {
            const v = Der.value(ext.value, Der.readOnly(ext.value, 0x0a))
            if (v.length !== 1 || v[0] > 10 || v[0] === 7) throw new Der.DerError("bad CRLReason")
            reason = v[0]
            break
          }
          case OID.certificateIssuer:
            currentIssuer = directoryName(Name.parseGeneralNames(ext.value.slice()))
            break
          case OID.invalidityDate:
            break
          default:
            if (ext.critical) problems.push(`unknown critical CRL entry extension ${ext.oid}`)
        }
      } catch (cause) {
        problems.push(
          `malformed CRL entry extension ${ext.oid}: ${cause instanceof Error ? cause.message : String(cause)}`
        )
      }
    }
    revoked.add(serialHex(serialBytes))
    entries.push({ serial: integerKey(serialBytes), reason, certificateIssuer: currentIssuer })
  }
  return {
    der,
    tbs: Der.whole(der, tbsTlv).slice(),
    signatureAlgorithm,
    signature,
    issuer,
    thisUpdate,
    nextUpdate,
    revoked,
    entries,
    authorityKeyId,
    crlNumber,
    baseCrlNumber,
    idp,
    problems
  }
}
