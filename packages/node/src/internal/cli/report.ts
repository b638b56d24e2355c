/**
 * Certificates, chains and flags as plain JSON values and as readable text.
 *
 * @internal
 */
import type * as Certificate from "@effect-tls/core/Certificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"

/** @internal */
export interface CertificateJson {
  readonly subject: string
  readonly issuer: string
  readonly serialNumber: string
  readonly notBefore: string
  readonly notAfter: string
  readonly dnsNames: ReadonlyArray<string>
  readonly ipAddresses: ReadonlyArray<string>
  readonly isCa: boolean
  readonly selfIssued: boolean
  readonly publicKey: string
  readonly signatureAlgorithm: string
  readonly sha256: string
  readonly spkiSha256: string
}

const keyText = (key: Certificate.PublicKeyInfo): string =>
  `${key.algorithm}${key.curve !== undefined ? ` ${key.curve}` : key.size > 0 ? ` ${key.size}` : ""}`

/** @internal */
export const certificateJson = (certificate: Certificate.Certificate): CertificateJson => ({
  subject: certificate.subject.text,
  issuer: certificate.issuer.text,
  serialNumber: certificate.serialNumber,
  notBefore: certificate.notBefore.toISOString(),
  notAfter: certificate.notAfter.toISOString(),
  dnsNames: certificate.dnsNames,
  ipAddresses: certificate.ipAddresses,
  isCa: certificate.isCa,
  selfIssued: certificate.isSelfIssued,
  publicKey: keyText(certificate.publicKey),
  signatureAlgorithm: certificate.signatureAlgorithm,
  sha256: certificate.fingerprintSha256,
  spkiSha256: certificate.spkiSha256
})

/** @internal */
export const flagsJson = (flags: CertificateFlags.CertificateFlags): ReadonlyArray<string> =>
  CertificateFlags.toArray(flags)

/** Every flag of the library, each `yes`/`no`: the complete verdict. */
export const flagsText = (flags: CertificateFlags.CertificateFlags, indent = "  "): Array<string> =>
  CertificateFlags.all.map((flag) => `${indent}${flag.padEnd(13)} ${CertificateFlags.has(flags, flag) ? "SET" : "-"}`)

/** @internal */
export const certificateText = (
  certificate: Certificate.Certificate,
  index: number | undefined,
  now: Date
): Array<string> => {
  const days = Math.floor((certificate.notAfter.getTime() - now.getTime()) / 86_400_000)
  const state = now < certificate.notBefore ? "not yet valid" : days < 0 ? "EXPIRED" : `${days} days left`
  const names = [...certificate.dnsNames, ...certificate.ipAddresses]
  return [
    `${index === undefined ? "" : `[${index}] `}${certificate.subject.text}`,
    `    issuer:     ${certificate.issuer.text}${certificate.isSelfIssued ? " (self-issued)" : ""}`,
    `    serial:     ${certificate.serialNumber}`,
    `    validity:   ${certificate.notBefore.toISOString()} .. ${certificate.notAfter.toISOString()} (${state})`,
    `    names:      ${names.length === 0 ? "(none)" : names.join(", ")}`,
    `    key:        ${keyText(certificate.publicKey)}${certificate.isCa ? ", CA" : ""}`,
    `    signature:  ${certificate.signatureAlgorithm}`,
    `    SHA-256:    ${certificate.fingerprintSha256}`,
    `    SPKI:       ${certificate.spkiSha256}`
  ]
}

/** @internal */
export const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")
