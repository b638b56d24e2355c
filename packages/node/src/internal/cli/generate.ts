/**
 * `serve --generate NAME...`: a throw-away CA and a leaf for the given names (ECDSA P-256,
 * valid from an hour ago for 30 days), made with node:crypto. For trying things only.
 *
 * @internal
 */
import * as Certificate from "@effect-tls/core/Certificate"
import * as CertifiedKey from "@effect-tls/core/CertifiedKey"
import { AsnConvert, OctetString } from "@peculiar/asn1-schema"
import * as X509 from "@peculiar/asn1-x509"
import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { fromInput } from "./errors.js"

const ecdsaWithSha256 = "1.2.840.10045.4.3.2"

const name = (commonName: string) =>
  new X509.Name([
    new X509.RelativeDistinguishedName([
      new X509.AttributeTypeAndValue({ type: "2.5.4.3", value: new X509.AttributeValue({ utf8String: commonName }) })
    ])
  ])

const extension = (extnID: string, critical: boolean, value: unknown) =>
  new X509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) })

const serial = () => {
  const bytes = new Uint8Array(Crypto.randomBytes(16))
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes
}

const keyId = (spki: Uint8Array) => {
  const info = AsnConvert.parse(spki, X509.SubjectPublicKeyInfo)
  return new Uint8Array(Crypto.createHash("sha1").update(new Uint8Array(info.subjectPublicKey)).digest())
}

interface KeyPair {
  readonly privateKey: Crypto.KeyObject
  readonly spki: Uint8Array
}

const keyPair = (): KeyPair => {
  const { privateKey, publicKey } = Crypto.generateKeyPairSync("ec", { namedCurve: "P-256" })
  return { privateKey, spki: new Uint8Array(publicKey.export({ type: "spki", format: "der" })) }
}

const build = (spec: {
  readonly subject: string
  readonly issuer: string
  readonly subjectKey: KeyPair
  readonly issuerKey: KeyPair
  readonly extensions: ReadonlyArray<X509.Extension>
  readonly now: Date
}) => {
  const algorithm = new X509.AlgorithmIdentifier({ algorithm: ecdsaWithSha256 })
  const tbs = new X509.TBSCertificate({
    version: X509.Version.v3,
    serialNumber: serial().buffer,
    signature: algorithm,
    issuer: name(spec.issuer),
    validity: new X509.Validity({
      notBefore: new Date(spec.now.getTime() - 3_600_000),
      notAfter: new Date(spec.now.getTime() + 30 * 86_400_000)
    }),
    subject: name(spec.subject),
    subjectPublicKeyInfo: AsnConvert.parse(spec.subjectKey.spki, X509.SubjectPublicKeyInfo),
    extensions: new X509.Extensions([
      ...spec.extensions,
      extension(X509.id_ce_subjectKeyIdentifier, false, new X509.SubjectKeyIdentifier(keyId(spec.subjectKey.spki))),
      extension(
        X509.id_ce_authorityKeyIdentifier,
        false,
        new X509.AuthorityKeyIdentifier({ keyIdentifier: new X509.KeyIdentifier(keyId(spec.issuerKey.spki)) })
      )
    ])
  })
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs))
  const signature = new Uint8Array(Crypto.sign("sha256", tbsDer, spec.issuerKey.privateKey))
  return new Uint8Array(AsnConvert.serialize(
    new X509.Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: signature.buffer })
  ))
}

const pem = (label: string, der: Uint8Array) =>
  `-----BEGIN ${label}-----\n${
    Buffer.from(der).toString("base64").replace(/(.{64})/g, "$1\n").trimEnd()
  }\n-----END ${label}-----\n`

/** @internal */
export interface Generated {
  readonly caPem: string
  readonly leafPem: string
  readonly keyPem: string
  readonly certifiedKey: CertifiedKey.CertifiedKey
}

/** @internal */
export const generate = (names: ReadonlyArray<string>, now = new Date()) =>
  Effect.gen(function*() {
    const caKey = keyPair()
    const leafKey = keyPair()
    const caName = `effect-tls serve CA ${Crypto.randomBytes(4).toString("hex")}`
    const caDer = build({
      subject: caName,
      issuer: caName,
      subjectKey: caKey,
      issuerKey: caKey,
      now,
      extensions: [
        extension(X509.id_ce_basicConstraints, true, new X509.BasicConstraints({ cA: true, pathLenConstraint: 0 })),
        extension(
          X509.id_ce_keyUsage,
          true,
          new X509.KeyUsage(X509.KeyUsageFlags.keyCertSign | X509.KeyUsageFlags.cRLSign)
        )
      ]
    })
    const leafDer = build({
      subject: names[0]!,
      issuer: caName,
      subjectKey: leafKey,
      issuerKey: caKey,
      now,
      extensions: [
        extension(X509.id_ce_basicConstraints, true, new X509.BasicConstraints({ cA: false })),
        extension(X509.id_ce_keyUsage, true, new X509.KeyUsage(X509.KeyUsageFlags.digitalSignature)),
        extension(X509.id_ce_extKeyUsage, false, new X509.ExtendedKeyUsage([X509.id_kp_serverAuth])),
        extension(
          X509.id_ce_subjectAltName,
          false,
          new X509.SubjectAlternativeName(names.map((n) =>
            Net.isIP(n) !== 0 ? new X509.GeneralName({ iPAddress: n }) : new X509.GeneralName({ dNSName: n })
          ))
        )
      ]
    })
    const caPem = pem("CERTIFICATE", caDer)
    const leafPem = pem("CERTIFICATE", leafDer)
    const keyPem = leafKey.privateKey.export({ type: "pkcs8", format: "pem" }).toString()
    const certifiedKey = yield* Effect.mapError(
      CertifiedKey.fromPem(leafPem + caPem, keyPem),
      fromInput("generated certificate")
    )
    // the parse above proves the DER is what core reads; keep the CA parsed too
    yield* Effect.mapError(Certificate.fromPem(caPem), fromInput("generated CA"))
    return { caPem, leafPem, keyPem, certifiedKey } satisfies Generated
  })
