/**
 * DER construction of certificates and CRLs for the test PKI.
 *
 * @internal
 */
import type * as Verifier from "@effect-tls/x509/Verifier"
import { AsnConvert, OctetString } from "@peculiar/asn1-schema"
import * as X509 from "@peculiar/asn1-x509"
import * as Crypto from "node:crypto"
import type { KeyPair, SignatureSpec } from "./keys.js"
import { sign, signatureAlgorithm } from "./keys.js"

/** @internal */
export const toPem = (label: string, der: Uint8Array): string => {
  const base64 = Buffer.from(der).toString("base64")
  const lines: Array<string> = []
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64))
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`
}

/** @internal */
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

/**
 * A distinguished name from (short name, value) pairs, most significant first.
 *
 * @internal
 */
export const makeName = (
  attributes: ReadonlyArray<readonly [string, string] | readonly [string, string, "utf8" | "printable" | "ia5"]>
): X509.Name => {
  const oids: Record<string, string> = {
    C: "2.5.4.6",
    O: "2.5.4.10",
    OU: "2.5.4.11",
    CN: "2.5.4.3",
    L: "2.5.4.7",
    ST: "2.5.4.8",
    emailAddress: "1.2.840.113549.1.9.1"
  }
  return new X509.Name(attributes.map(([type, value, encoding]) =>
    new X509.RelativeDistinguishedName([
      new X509.AttributeTypeAndValue({
        type: oids[type] ?? type,
        value: (encoding ?? (type === "C" ? "printable" : type === "emailAddress" ? "ia5" : "utf8")) === "printable"
          ? new X509.AttributeValue({ printableString: value })
          : (encoding ?? (type === "emailAddress" ? "ia5" : "utf8")) === "ia5"
          ? new X509.AttributeValue({ ia5String: value })
          : new X509.AttributeValue({ utf8String: value })
      })
    ])
  ))
}

/**
 * RFC 5280 method 1 key identifier: SHA-1 of the subjectPublicKey bits.
 *
 * @internal
 */
export const keyIdentifier = (spki: Uint8Array): Uint8Array => {
  const info = AsnConvert.parse(spki, X509.SubjectPublicKeyInfo)
  return new Uint8Array(Crypto.createHash("sha1").update(new Uint8Array(info.subjectPublicKey)).digest())
}

/**
 * A positive INTEGER's content octets from a bigint (minimal two's complement).
 *
 * @internal
 */
export const serialBytes = (serial: bigint): Uint8Array => {
  if (serial < 0n) {
    // minimal two's complement
    let bytes = 1
    while (serial < -(1n << BigInt(bytes * 8 - 1))) bytes++
    const value = (1n << BigInt(bytes * 8)) + serial
    return new Uint8Array(Buffer.from(value.toString(16).padStart(bytes * 2, "0"), "hex"))
  }
  let text = serial.toString(16)
  if (text.length % 2) text = "0" + text
  if (parseInt(text.slice(0, 2), 16) & 0x80) text = "00" + text
  return new Uint8Array(Buffer.from(text, "hex"))
}

/**
 * A random positive 128-bit serial.
 *
 * @internal
 */
export const randomSerial = (): Uint8Array => {
  const bytes = new Uint8Array(Crypto.randomBytes(16))
  bytes[0] &= 0x7f
  if (bytes[0] === 0) bytes[0] = 0x01
  return bytes
}

/**
 * The serial as lower-case hex without leading zero octets; a negative one as `-` and its
 * magnitude (as `Certificate.serialNumber`).
 *
 * @internal
 */
export const serialHex = (bytes: Uint8Array): string => {
  if (bytes.length > 0 && (bytes[0] & 0x80) !== 0) {
    const magnitude = (1n << BigInt(bytes.length * 8)) - BigInt(`0x${hex(bytes)}`)
    const text = magnitude.toString(16)
    return `-${text.length % 2 === 0 ? text : `0${text}`}`
  }
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) i++
  return hex(bytes.subarray(i))
}

const extension = (extnID: string, critical: boolean, value: unknown): X509.Extension =>
  new X509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) })

/** @internal */
export const extensions = {
  basicConstraints: (isCa: boolean, pathLength: number | undefined, critical = true) =>
    extension(
      X509.id_ce_basicConstraints,
      critical,
      new X509.BasicConstraints(pathLength === undefined ? { cA: isCa } : { cA: isCa, pathLenConstraint: pathLength })
    ),
  keyUsage: (usages: ReadonlyArray<Verifier.KeyUsage>, critical = true) => {
    let flags = 0
    for (const usage of usages) flags |= X509.KeyUsageFlags[usage]
    return extension(X509.id_ce_keyUsage, critical, new X509.KeyUsage(flags))
  },
  extendedKeyUsage: (oids: ReadonlyArray<string>, critical = false) =>
    extension(X509.id_ce_extKeyUsage, critical, new X509.ExtendedKeyUsage([...oids])),
  subjectAltName: (dnsNames: ReadonlyArray<string>, ipAddresses: ReadonlyArray<string>, critical = false) =>
    extension(
      X509.id_ce_subjectAltName,
      critical,
      new X509.SubjectAlternativeName([
        ...dnsNames.map((dNSName) => new X509.GeneralName({ dNSName })),
        ...ipAddresses.map((iPAddress) => new X509.GeneralName({ iPAddress }))
      ])
    ),
  subjectKeyIdentifier: (id: Uint8Array) =>
    extension(X509.id_ce_subjectKeyIdentifier, false, new X509.SubjectKeyIdentifier(id)),
  authorityKeyIdentifier: (id: Uint8Array) =>
    extension(
      X509.id_ce_authorityKeyIdentifier,
      false,
      new X509.AuthorityKeyIdentifier({ keyIdentifier: new X509.KeyIdentifier(id) })
    ),
  crlNumber: (value: number) => extension(X509.id_ce_cRLNumber, false, new X509.CRLNumber(value)),
  raw: (oid: string, critical: boolean, value: Uint8Array) =>
    new X509.Extension({ extnID: oid, critical, extnValue: new OctetString(value) })
}

/** Signs the DER of `tbs` with `key`; returns the DER of the signed object `wrap` builds around the signature. */
const signed = (
  tbs: object,
  key: KeyPair,
  signature: SignatureSpec,
  wrap: (signature: ArrayBuffer) => object
): Uint8Array => {
  const value = sign(key, signature, new Uint8Array(AsnConvert.serialize(tbs)))
  return new Uint8Array(AsnConvert.serialize(wrap(value.slice().buffer)))
}

/** @internal */
export interface CertificateSpec {
  readonly serial: Uint8Array
  readonly subject: X509.Name
  readonly issuer: X509.Name
  readonly notBefore: Date
  readonly notAfter: Date
  readonly subjectKey: KeyPair
  readonly issuerKey: KeyPair
  readonly signature: SignatureSpec
  readonly extensions: ReadonlyArray<X509.Extension>
}

/**
 * Builds and signs a v3 certificate; returns its DER.
 *
 * @internal
 */
export const buildCertificate = (spec: CertificateSpec): Uint8Array => {
  const algorithm = signatureAlgorithm(spec.issuerKey.type, spec.signature)
  const tbs = new X509.TBSCertificate({
    version: X509.Version.v3,
    serialNumber: spec.serial.slice().buffer,
    signature: algorithm,
    issuer: spec.issuer,
    validity: new X509.Validity({ notBefore: spec.notBefore, notAfter: spec.notAfter }),
    subject: spec.subject,
    subjectPublicKeyInfo: AsnConvert.parse(spec.subjectKey.spki, X509.SubjectPublicKeyInfo),
    extensions: new X509.Extensions([...spec.extensions])
  })
  return signed(
    tbs,
    spec.issuerKey,
    spec.signature,
    (signatureValue) => new X509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue })
  )
}

/** @internal */
export interface CrlSpec {
  readonly issuer: X509.Name
  readonly issuerKey: KeyPair
  readonly authorityKeyId: Uint8Array
  readonly signature: SignatureSpec
  readonly thisUpdate: Date
  readonly nextUpdate: Date
  readonly number: number
  readonly revoked: ReadonlyArray<
    {
      readonly serial: Uint8Array
      readonly date: Date
      readonly extensions?: ReadonlyArray<X509.Extension> | undefined
    }
  >
  readonly extensions?: ReadonlyArray<X509.Extension> | undefined
}

/**
 * Builds and signs a v2 CRL with authorityKeyIdentifier and cRLNumber; returns its DER.
 *
 * @internal
 */
export const buildCrl = (spec: CrlSpec): Uint8Array => {
  const algorithm = signatureAlgorithm(spec.issuerKey.type, spec.signature)
  const tbs = new X509.TBSCertList({
    version: X509.Version.v2,
    signature: algorithm,
    issuer: spec.issuer,
    thisUpdate: new X509.Time(spec.thisUpdate),
    nextUpdate: new X509.Time(spec.nextUpdate),
    crlExtensions: [
      extensions.authorityKeyIdentifier(spec.authorityKeyId),
      extensions.crlNumber(spec.number),
      ...(spec.extensions ?? [])
    ]
  })
  if (spec.revoked.length > 0) {
    tbs.revokedCertificates = spec.revoked.map((entry) =>
      new X509.RevokedCertificate({
        userCertificate: entry.serial.slice().buffer,
        revocationDate: new X509.Time(entry.date),
        ...(entry.extensions === undefined || entry.extensions.length === 0
          ? {}
          : { crlEntryExtensions: [...entry.extensions] })
      })
    )
  }
  return signed(
    tbs,
    spec.issuerKey,
    spec.signature,
    (signature) => new X509.CertificateList({ tbsCertList: tbs, signatureAlgorithm: algorithm, signature })
  )
}
