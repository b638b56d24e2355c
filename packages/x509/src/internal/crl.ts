/**
 * Certificate revocation lists (RFC 5280 section 5).
 *
 * @internal
 */
import { AsnConvert } from "@peculiar/asn1-schema"
import * as X509Asn from "@peculiar/asn1-x509"
import * as Der from "./der.js"
import * as Name from "./name.js"
import { OID } from "./oids.js"
import type { AlgorithmId } from "./parse.js"

/** @internal */
export interface ParsedCrl {
  readonly der: Uint8Array
  readonly tbs: Uint8Array
  readonly signatureAlgorithm: AlgorithmId
  readonly signature: Uint8Array
  readonly issuer: Name.ParsedName
  readonly thisUpdate: Date
  readonly nextUpdate: Date | undefined
  /** Lower-case hex serials (no leading zero bytes). */
  readonly revoked: ReadonlySet<string>
  readonly authorityKeyId: string | undefined
  /** Why this CRL must not be relied upon (→ GenericError when it concerns a path). */
  readonly problems: ReadonlyArray<string>
}

const readAlgorithm = (buf: Uint8Array, tlv: Der.Tlv | undefined): AlgorithmId => {
  const seq = Der.expect(tlv, Der.Tag.SEQUENCE, "AlgorithmIdentifier")
  const [oidTlv, params] = Der.children(buf, seq)
  return {
    oid: Der.readOid(buf, oidTlv),
    params: params === undefined ? undefined : Der.whole(buf, params).slice(),
    der: Der.whole(buf, seq).slice()
  }
}

const normalizeSerial = (bytes: Uint8Array): string => {
  let b = bytes
  while (b.length > 1 && b[0] === 0) b = b.subarray(1)
  return Der.toHex(b)
}

/** Parses a DER CRL; throws when it is not one. @internal */
export const parseCrl = (input: Uint8Array): ParsedCrl => {
  const der = input.slice()
  const top = Der.readOnly(der, Der.Tag.SEQUENCE)
  const [tbsTlv, algTlv, sigTlv, ...rest] = Der.children(der, top)
  if (rest.length > 0 || sigTlv === undefined) throw new Der.DerError("bad CertificateList")
  const signatureAlgorithm = readAlgorithm(der, algTlv)
  const signature = Der.readBitString(der, sigTlv).bytes.slice()
  const tbsItems = Der.children(der, Der.expect(tbsTlv, Der.Tag.SEQUENCE, "TBSCertList"))
  let i = 0
  if (tbsItems[0]?.tag === Der.Tag.INTEGER) i++
  const innerAlg = readAlgorithm(der, tbsItems[i++])
  const issuer = Name.parseName(der, Der.expect(tbsItems[i++], Der.Tag.SEQUENCE, "issuer"))
  const list = AsnConvert.parse(der, X509Asn.CertificateList)
  const problems: Array<string> = []
  if (!Der.equalBytes(innerAlg.der, signatureAlgorithm.der)) problems.push("signature algorithm mismatch")
  const revoked = new Set<string>()
  for (const entry of list.tbsCertList.revokedCertificates ?? []) {
    revoked.add(normalizeSerial(new Uint8Array(entry.userCertificate)))
    for (const ext of entry.crlEntryExtensions ?? []) {
      if (ext.critical && ext.extnID !== OID.crlReason && ext.extnID !== "2.5.29.29" && ext.extnID !== "2.5.29.24") {
        problems.push(`unknown critical CRL entry extension ${ext.extnID}`)
      }
    }
  }
  let crlNumber = false
  let authorityKeyId: string | undefined
  for (const ext of list.tbsCertList.crlExtensions ?? []) {
    switch (ext.extnID) {
      case OID.crlNumber:
        crlNumber = true
        if (ext.critical) problems.push("critical CRLNumber")
        break
      case OID.authorityKeyIdentifier: {
        try {
          const aki = AsnConvert.parse(ext.extnValue.buffer, X509Asn.AuthorityKeyIdentifier)
          if (aki.keyIdentifier !== undefined) authorityKeyId = Der.toHex(new Uint8Array(aki.keyIdentifier.buffer))
        } catch {
          problems.push("malformed authorityKeyIdentifier")
        }
        break
      }
      case OID.issuingDistributionPoint:
      case "2.5.29.27": // deltaCRLIndicator
      case OID.freshestCrl:
      case OID.authorityInfoAccess:
      case OID.issuerAltName:
        if (ext.extnID === "2.5.29.27") problems.push("delta CRLs are not supported")
        break
      default:
        if (ext.critical) problems.push(`unknown critical CRL extension ${ext.extnID}`)
    }
  }
  if (!crlNumber) problems.push("CRL without CRLNumber")
  return {
    der,
    tbs: Der.whole(der, tbsTlv).slice(),
    signatureAlgorithm,
    signature,
    issuer,
    thisUpdate: list.tbsCertList.thisUpdate.getTime(),
    nextUpdate: list.tbsCertList.nextUpdate?.getTime(),
    revoked,
    authorityKeyId,
    problems
  }
}

/** @internal */
export const serialKey = normalizeSerial
