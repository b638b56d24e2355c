/**
 * RFC 5280 path building and validation returning the complete `CertificateFlags`.
 *
 * The builder walks from the leaf towards the anchors through the peer's certificates and
 * the database's intermediates (any order, superfluous ones ignored), tries alternative
 * issuers when a path fails, and bounds its work (depth, candidates, signatures, paths).
 * Each complete path is evaluated against every rule; the first flawless one wins, else
 * the flags of the best candidate path (fewest flags, trusted before untrusted) are
 * returned, so several problems are reported at once.
 *
 * @internal
 */
import type { Certificate } from "../Certificate.js"
import type { CertificateFlag } from "../CertificateFlags.js"
import type { KeyUsage, Reason, VerifyOptions, VerifyResult } from "../Verifier.js"
import type { Parsed } from "./certificate.js"
import { parsed } from "./certificate.js"
import * as Constraints from "./constraints.js"
import type { ParsedCrl } from "./crl.js"
import { integerKey } from "./crl.js"
import * as Der from "./der.js"
import * as Dsa from "./dsa.js"
import * as Name from "./name.js"
import { OID } from "./oids.js"
import type { AlgorithmId, DistributionPoint, DistributionPointName } from "./parse.js"
import { hasKeyUsage, KeyUsageBit } from "./parse.js"
import * as Policy from "./policy.js"
import * as Signature from "./signature.js"

/** @internal */
export interface Store {
  readonly anchors: ReadonlyArray<Certificate>
  readonly anchorsBySubject: ReadonlyMap<string, ReadonlyArray<Certificate>>
  readonly anchorFingerprints: ReadonlySet<string>
  readonly intermediatesBySubject: ReadonlyMap<string, ReadonlyArray<Certificate>>
  /** Newest first (CRL number, then thisUpdate). */
  readonly crls: ReadonlyArray<ParsedCrl>
  /** Maximum number of (non-self-issued) intermediates; unbounded when undefined. */
  readonly maxIntermediates: number | undefined
  /** Anchors exempt from the CA formatting rules (a platform store's legacy roots). */
  readonly lenientAnchors: boolean
  /** Why CRLs given to the verifier cannot be read: each fails every verification. */
  readonly unreadableCrls: ReadonlyArray<string>
}

const index = (certs: ReadonlyArray<Certificate>): Map<string, Array<Certificate>> => {
  const out = new Map<string, Array<Certificate>>()
  for (const cert of certs) {
    const key = parsed(cert).x509.subject.key
    const list = out.get(key)
    if (list === undefined) out.set(key, [cert])
    else if (!list.some((c) => c.fingerprintSha256 === cert.fingerprintSha256)) list.push(cert)
  }
  return out
}

/**
 * Newest first: by CRL number (one without is unusable anyway), then by thisUpdate; a total
 * order, so that the CRLs of one scope come in their issuer's order whatever else is listed.
 */
const newestFirst = (a: ParsedCrl, b: ParsedCrl): number => {
  const an = a.crlNumber ?? -1n
  const bn = b.crlNumber ?? -1n
  return an !== bn ? (an > bn ? -1 : 1) : b.thisUpdate.getTime() - a.thisUpdate.getTime()
}

/** @internal */
export const makeStore = (
  anchors: ReadonlyArray<Certificate>,
  intermediates: ReadonlyArray<Certificate>,
  crls: ReadonlyArray<ParsedCrl>,
  maxIntermediates: number | undefined,
  lenientAnchors: boolean,
  unreadableCrls: ReadonlyArray<string>
): Store => ({
  anchors,
  anchorsBySubject: index(anchors),
  anchorFingerprints: new Set(anchors.map((a) => a.fingerprintSha256)),
  intermediatesBySubject: index(intermediates),
  // the newest CRLs first (a later CRL may release a certificateHold an older one lists)
  crls: [...crls].sort(newestFirst),
  maxIntermediates,
  lenientAnchors,
  unreadableCrls
})

/** @internal */
export interface Options extends Omit<VerifyOptions, "time"> {
  /** Milliseconds since the epoch. */
  readonly time: number
}

// Work bounds for hostile inputs.
const MaxDepth = 12
const MaxCandidates = 16
const MaxSignatures = 64
const MaxPaths = 32

const knownExtensions = new Set<string>([
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.subjectAltName,
  OID.issuerAltName,
  OID.basicConstraints,
  OID.nameConstraints,
  OID.crlDistributionPoints,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.authorityKeyIdentifier,
  OID.policyConstraints,
  OID.extKeyUsage,
  OID.freshestCrl,
  OID.inhibitAnyPolicy,
  OID.authorityInfoAccess,
  OID.subjectInfoAccess
])

interface Node {
  readonly cert: Certificate
  readonly p: Parsed
  readonly isAnchor: boolean
  /** The outcome of checking the previous (child) certificate's signature with this one's key. */
  readonly link: Signature.Outcome | undefined
}

type Flags = Set<CertificateFlag>

const selfIssued = (p: Parsed) => p.x509.subject.key === p.x509.issuer.key

/**
 * Whether a path is held to the Web PKI's issuance rules besides RFC 5280's processing
 * rules: when it is checked for a host name or IP address, it is a TLS server's. (PKITS and
 * other RFC 5280 path validations process what a conforming CA MUST do differently, e.g. a
 * non-critical policyConstraints, instead of refusing it.)
 */
const webPkiProfile = (options: { readonly identity?: string | undefined }): boolean => options.identity !== undefined

/** Structural rules for one certificate, whatever its position. */
const certificateProblems = (
  p: Parsed,
  position: "leaf" | "issuer",
  isAnchor: boolean,
  lenientAnchors: boolean,
  webPki: boolean
): Array<string> => {
  const x = p.x509
  const out: Array<string> = [...x.problems]
  for (const ext of x.extensions) {
    if (ext.critical && !knownExtensions.has(ext.oid)) out.push(`unknown critical extension ${ext.oid}`)
  }
  const ext = (oid: string) => x.extensions.find((e) => e.oid === oid)
  if (x.issuer.rdns.length === 0) out.push("empty issuer")
  if (!isAnchor) {
    if (x.version !== 3) out.push(`version ${x.version} certificate`)
    // RFC 5280 4.1.2.2: positive, at most 20 octets ("users MUST be able to handle" 20, so a
    // 20-octet value with its sign octet is fine). A zero serial fails (x509-limbo's
    // rfc5280::serial::zero); a negative one is handled gracefully, as the RFC asks (PKITS
    // 4.4.14 is valid, 4.4.15 revoked by INTEGER), like OpenSSL and GnuTLS.
    const raw = x.serialRaw
    if (raw.length === 1 && raw[0] === 0) out.push("zero serial number")
    if (raw.length - (raw[0] === 0 ? 1 : 0) > 20) out.push("serial number longer than 20 octets")
  }
  if (ext(OID.authorityKeyIdentifier)?.critical) out.push("critical authorityKeyIdentifier")
  if (ext(OID.subjectKeyIdentifier)?.critical) out.push("critical subjectKeyIdentifier")
  if (ext(OID.authorityInfoAccess)?.critical) out.push("critical authorityInfoAccess")
  const pc = ext(OID.policyConstraints)
  // RFC 5280 4.2.1.11: "Conforming CAs MUST mark this extension as critical", an issuance
  // rule; 6.1.4 (i) processes the extension either way (PKITS's CAs carry it non-critical)
  if (webPki && pc !== undefined && !pc.critical) out.push("non-critical policyConstraints")
  const aki = ext(OID.authorityKeyIdentifier)
  if (aki !== undefined && x.authorityKeyId === undefined) out.push("authorityKeyIdentifier without keyIdentifier")
  const aia = ext(OID.authorityInfoAccess)
  if (aia !== undefined && !validAia(aia.value)) out.push("malformed authorityInfoAccess")
  if (!isAnchor && !selfIssued(p) && x.authorityKeyId === undefined) out.push("missing authorityKeyIdentifier")
  if (isAnchor && selfIssued(p) && position === "issuer") {
    if (aki !== undefined && akiHasIssuerFields(aki.value)) out.push("root authorityKeyIdentifier with issuer fields")
    if (x.authorityKeyId !== undefined && x.subjectKeyId !== undefined && x.authorityKeyId !== x.subjectKeyId) {
      out.push("root authorityKeyIdentifier does not match its subjectKeyIdentifier")
    }
    if (x.extKeyUsage !== undefined) out.push("root with extKeyUsage")
  }
  // keyUsage and basicConstraints must agree (RFC 5280 4.2.1.3 / 4.2.1.9)
  const ca = x.basicConstraints?.ca === true
  if (x.keyUsage !== undefined) {
    const certSign = ((x.keyUsage >> KeyUsageBit.keyCertSign) & 1) === 1
    if (certSign && !ca) out.push("keyCertSign without cA")
    if (ca && !certSign) out.push("cA without keyCertSign")
  }
  if (x.publicKey.algorithm === "RSA" || x.publicKey.algorithm === "RSA-PSS") {
    if (x.publicKey.size % 8 !== 0) out.push("RSA modulus size not a multiple of 8")
  }
  if (x.spkiAlgorithm.oid === OID.ecPublicKey && x.publicKey.curve === undefined) {
    out.push("EC key without a supported named curve")
  }
  if (position === "issuer") {
    if (x.basicConstraints === undefined) out.push("issuer without basicConstraints")
    else if (!x.basicConstraints.ca) out.push("issuer is not a CA")
    // (a platform store's anchors are exempt from these two formatting rules: Node's bundled
    // Mozilla store has a root with a non-critical basicConstraints and one without SKI)
    // RFC 5280 4.2.1.9: CAs "MUST mark the extension as critical", an issuance rule the
    // Web PKI's profile enforces (PKITS 4.6.4 is valid with a non-critical one)
    else if (webPki && !(isAnchor && lenientAnchors) && !ext(OID.basicConstraints)!.critical) {
      out.push("non-critical basicConstraints in a CA")
    }
    if (!hasKeyUsage(x, KeyUsageBit.keyCertSign)) out.push("issuer keyUsage without keyCertSign")
    if (x.subject.rdns.length === 0) out.push("CA with an empty subject")
    if (!(isAnchor && lenientAnchors) && x.subjectKeyId === undefined) out.push("CA without subjectKeyIdentifier")
  } else {
    if (x.nameConstraints !== undefined || ext(OID.nameConstraints) !== undefined) {
      out.push("nameConstraints in an end-entity certificate")
    }
  }
  // subjectAltName rules (RFC 5280 4.2.1.6)
  const san = ext(OID.subjectAltName)
  if (san !== undefined) {
    if (x.subject.rdns.length === 0 && !san.critical) out.push("non-critical subjectAltName with an empty subject")
    if (position === "leaf" && x.subject.rdns.length > 0 && san.critical) {
      out.push("critical subjectAltName with a non-empty subject")
    }
    for (const name of x.subjectAltNames ?? []) {
      if (name.kind === "dns" && !Constraints.isSanDnsName(name.value)) out.push(`invalid dNSName ${name.value}`)
      if (name.kind === "ip" && name.bytes.length !== 4 && name.bytes.length !== 16) out.push("invalid iPAddress")
      if (name.kind === "email" && !Constraints.isEmail(name.value)) out.push(`invalid rfc822Name ${name.value}`)
    }
  }
  for (const subtree of [...(x.nameConstraints?.permitted ?? []), ...(x.nameConstraints?.excluded ?? [])]) {
    const problem = Constraints.subtreeProblem(subtree)
    if (problem !== undefined) out.push(problem)
  }
  return out
}

const validAia = (value: Uint8Array): boolean => {
  try {
    const top = Der.readOnly(value, Der.Tag.SEQUENCE)
    const items = Der.children(value, top)
    if (items.length === 0) return false
    for (const item of items) {
      const [method, location, ...rest] = Der.children(value, Der.expect(item, Der.Tag.SEQUENCE, "AccessDescription"))
      Der.readOid(value, method)
      if (location === undefined || rest.length > 0) return false
      Name.parseGeneralName(value, location)
    }
    return true
  } catch {
    return false
  }
}

const akiHasIssuerFields = (value: Uint8Array): boolean => {
  try {
    const top = Der.readOnly(value, Der.Tag.SEQUENCE)
    return Der.children(value, top).some((tlv) => tlv.tag === 0xa1 || tlv.tag === 0x81 || tlv.tag === 0x82)
  } catch {
    return true
  }
}

const keyUsageBits: Record<KeyUsage, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8
}

/** The EKU OIDs the options require (empty: any purpose). */
const requiredEkus = (options: Options): ReadonlyArray<string> =>
  options.extendedKeyUsage === "any"
    ? []
    : options.extendedKeyUsage ?? [options.purpose === "server" ? OID.serverAuth : OID.clientAuth]

interface Problem {
  readonly flag: CertificateFlag
  readonly code: Reason["code"]
  readonly detail: string
  readonly algorithm?: string
}

const ipLike = (cn: string) =>
  Name.parseIp(cn) !== undefined || /^[0-9.]+$/.test(cn) || /^0x[0-9a-f]+(\.0x[0-9a-f]+)*$/i.test(cn) ||
  (cn.includes(":") && /^[0-9a-f:.[\]]+$/i.test(cn))

const leafProblems = (p: Parsed, options: Options): Array<Problem> => {
  const x = p.x509
  const out: Array<Problem> = []
  const generic = (code: Reason["code"], detail: string) => out.push({ flag: "GenericError", code, detail })
  const ekus = requiredEkus(options)
  if (x.extKeyUsage !== undefined) {
    for (const oid of ekus) {
      if (!x.extKeyUsage.includes(oid)) generic("ExtendedKeyUsage", `extKeyUsage does not allow ${oid}`)
    }
    // RFC 5280 4.2.1.12 lets the issuer mark it either way; the Web PKI's profile
    // (CA/B Forum BR 7.1.2.7.10) requires it non-critical
    if (webPkiProfile(options) && x.extensions.find((e) => e.oid === OID.extKeyUsage)?.critical) {
      generic("ExtendedKeyUsage", "critical extKeyUsage")
    }
    if (ekus.length > 0 && x.extKeyUsage.includes(OID.anyExtendedKeyUsage)) {
      generic("ExtendedKeyUsage", "anyExtendedKeyUsage in an end-entity certificate")
    }
  }
  for (const usage of options.keyUsage ?? []) {
    if (!hasKeyUsage(x, keyUsageBits[usage])) generic("KeyUsage", `keyUsage does not assert ${usage}`)
  }
  // subscriber keys
  let insecure = false
  switch (x.publicKey.algorithm) {
    case "RSA":
    case "RSA-PSS":
      if (x.publicKey.size < 2048) insecure = true
      break
    case "EC":
      if (x.publicKey.curve !== "P-256" && x.publicKey.curve !== "P-384" && x.publicKey.curve !== "P-521") {
        insecure = true
      }
      break
    case "Ed25519":
    case "Ed448":
    case "DSA": // its size is checked along the path: its parameters may be its issuer's
      break
    default:
      insecure = true
  }
  if (insecure) out.push({ flag: "Insecure", code: "Weak", detail: "leaf key" })
  // RFC 6125 6.4.4: with a subjectAltName the CN is not consulted, so a CN naming another
  // host or an IP address is no reason to refuse the chain. A CN that spells one of the
  // SAN identities in a non-canonical form (an IP address in hex, with leading zeros or
  // not in RFC 5952 form, a case variant, an internationalized variant) is malformed.
  if (options.purpose === "server" && x.subjectAltNames !== undefined) {
    const dns = x.subjectAltNames.flatMap((n) => n.kind === "dns" ? [n.value] : [])
    const ips = x.subjectAltNames.flatMap((n) => n.kind === "ip" ? [Name.formatIp(n.bytes)] : [])
    for (const attr of x.subject.attributes) {
      if (attr.oid !== OID.commonName) continue
      const cn = attr.value
      if (dns.includes(cn) || ips.includes(cn)) continue
      const canonicalIp = Name.parseIp(cn) !== undefined && Name.formatIp(Name.parseIp(cn)!) === cn &&
        !cn.startsWith("[")
      const malformedIp = ipLike(cn) && !canonicalIp
      const caseVariant = dns.some((d) => d.toLowerCase() === cn.toLowerCase())
      const international = /[^\p{ASCII}]/u.test(cn) || /(^|\.)xn--/i.test(cn)
      if (malformedIp || caseVariant || international) {
        generic("Malformed", `common name ${cn} is a non-canonical form of a subjectAltName entry`)
      }
    }
  }
  return out
}

/** @internal */
export const identityMatches = (p: Parsed, identity: string): boolean => {
  const ip = Name.parseIp(identity)
  const sans = p.x509.subjectAltNames ?? []
  if (ip !== undefined) return sans.some((n) => n.kind === "ip" && Der.equalBytes(n.bytes, ip))
  return sans.some((n) => n.kind === "dns" && Constraints.matchesDns(n.value, identity))
}

const emailEquals = (presented: string, reference: string): boolean => {
  const a = presented.lastIndexOf("@")
  const b = reference.lastIndexOf("@")
  if (a < 0 || b < 0) return false
  // the local part is case-sensitive, the domain is not (RFC 5280 7.5)
  return presented.slice(0, a) === reference.slice(0, b) &&
    presented.slice(a + 1).toLowerCase() === reference.slice(b + 1).toLowerCase()
}

/** The subject's emailAddress attributes, which stand for rfc822Names when there is no SAN. */
const subjectEmails = (p: Parsed): Array<string> =>
  p.x509.subjectAltNames === undefined
    ? p.x509.subject.attributes.flatMap((a) => a.oid === OID.emailAddress ? [a.value] : [])
    : []

/** @internal */
export const emailMatches = (p: Parsed, email: string): boolean =>
  [...(p.x509.subjectAltNames ?? []).flatMap((n) => n.kind === "email" ? [n.value] : []), ...subjectEmails(p)]
    .some((presented) => emailEquals(presented, email))

const keyInsecure = (p: Parsed): boolean =>
  (p.x509.publicKey.algorithm === "RSA" || p.x509.publicKey.algorithm === "RSA-PSS") && p.x509.publicKey.size < 2048

/** The names of a certificate that name constraints apply to (RFC 5280 4.2.1.10). */
const constrainedNames = (p: Parsed): Array<Name.GeneralName> => {
  const out: Array<Name.GeneralName> = [...(p.x509.subjectAltNames ?? [])]
  if (p.x509.subject.rdns.length > 0) out.push({ kind: "dn", name: p.x509.subject })
  for (const value of subjectEmails(p)) out.push({ kind: "email", value })
  return out
}

interface Verification {
  readonly store: Store
  readonly options: Options
  readonly leafProblems: ReadonlyArray<Problem>
  readonly pool: ReadonlyMap<string, ReadonlyArray<Certificate>>
  readonly sigCache: Map<string, Promise<Signature.Outcome>>
  /** Nesting level: 0 for the caller's chain, 1 while validating a CRL signer's path. */
  readonly depth: number
  signatures: number
  paths: number
  best: Evaluated | undefined
}

interface Evaluated {
  readonly flags: Flags
  readonly reasons: Array<Reason>
  readonly complete: boolean
  readonly path: ReadonlyArray<Node>
  readonly validPolicySet: ReadonlyArray<string> | undefined
}

const checkSignature = (
  v: Verification,
  signed: { readonly signatureAlgorithm: AlgorithmId; readonly tbs: Uint8Array; readonly signature: Uint8Array },
  issuer: Parsed,
  key: string,
  inheritedDsaParameters?: Uint8Array
): Promise<Signature.Outcome> => {
  const cached = v.sigCache.get(key)
  if (cached !== undefined) return cached
  v.signatures++
  const promise = Signature.verify(
    issuer,
    signed.signatureAlgorithm,
    signed.tbs,
    signed.signature,
    inheritedDsaParameters
  )
  v.sigCache.set(key, promise)
  return promise
}

/**
 * The DSA parameters of the key of `path[i]`: its own, else (RFC 3279 2.3.2) those of its
 * issuer's DSA key when the issuer signed it with DSA, recursively. `from` is the
 * certificate that carries them.
 */
const dsaParameters = (
  path: ReadonlyArray<Node>,
  i: number
): { readonly params: Uint8Array; readonly from: string } | undefined => {
  for (let k = i; k < path.length; k++) {
    const x = path[k].p.x509
    if (x.spkiAlgorithm.oid !== OID.dsa) return undefined
    if (x.spkiAlgorithm.params !== undefined) {
      return { params: x.spkiAlgorithm.params, from: path[k].cert.fingerprintSha256 }
    }
    if (!Signature.isDsa(x.signatureAlgorithm.oid)) return undefined
  }
  return undefined
}

/** The link `path[i - 1]` → `path[i]` when `path[i]`'s DSA key inherits its parameters. */
const inheritedLink = (v: Verification, path: ReadonlyArray<Node>, i: number): Promise<Signature.Outcome> => {
  const params = dsaParameters(path, i)
  if (params === undefined) return Promise.resolve({ _tag: "NeedsParameters" })
  const child = path[i - 1]
  const key = `${child.cert.fingerprintSha256}|${path[i].cert.fingerprintSha256}|${params.from}`
  return checkSignature(v, child.p.x509, path[i].p, key, params.params)
}

// ---- revocation (RFC 5280 6.3) ----

/** ReasonFlags bits 1 (keyCompromise) to 8 (aACompromise). */
const AllReasons = 0x1fe
const CertificateHold = 6
const RemoveFromCrl = 8

const generalNameKey = (n: Name.GeneralName): string => {
  switch (n.kind) {
    case "dn":
      return `dn:${n.name.key}`
    case "ip":
      return `ip:${Der.toHex(n.bytes)}`
    case "other":
      return `other:${n.tag}`
    case "dns":
      return `dns:${n.value.toLowerCase()}`
    default:
      return `${n.kind}:${n.value}`
  }
}

/** The names of a DistributionPointName; a relative name is appended to `issuer`. */
const dpNames = (name: DistributionPointName, issuer: Name.ParsedName): Array<string> => {
  if (name.kind === "full") return name.names.map(generalNameKey)
  try {
    const composed = Der.encode(Der.Tag.SEQUENCE, Der.value(issuer.der, Der.readOnly(issuer.der)), name.rdn)
    return [`dn:${Name.parseNameDer(composed).key}`]
  } catch {
    return []
  }
}

const dnNames = (names: ReadonlyArray<Name.GeneralName>): Array<string> =>
  names.flatMap((n) => n.kind === "dn" ? [n.name.key] : [])

/** Whether `crl` is in the scope of distribution point `dp` for `cert` (6.3.3 (b)). */
const inScope = (crl: ParsedCrl, cert: Parsed, dp: DistributionPoint | undefined): boolean => {
  const x = cert.x509
  const idp = crl.idp
  const indirect = idp?.indirectCrl === true
  // (b)(1) the CRL issuer
  if (dp?.crlIssuer !== undefined) {
    if (!indirect || !dnNames(dp.crlIssuer).includes(crl.issuer.key)) return false
  } else if (crl.issuer.key !== x.issuer.key) return false
  if (idp === undefined) return true
  // (b)(2)(i) the distribution point names
  if (idp.distributionPoint !== undefined) {
    const idpNames = dpNames(idp.distributionPoint, crl.issuer)
    if (dp === undefined) return false
    // a name relative to the CRL issuer is relative to the DP's cRLIssuer when there is one
    const base = (dp.crlIssuer ?? []).flatMap((n) => n.kind === "dn" ? [n.name] : [])[0] ?? x.issuer
    const certNames = dp.name !== undefined
      ? dpNames(dp.name, base)
      : (dp.crlIssuer ?? []).map(generalNameKey)
    if (!idpNames.some((n) => certNames.includes(n))) return false
  }
  // (ii)-(iv) the kinds of certificates the CRL covers
  const isCa = x.basicConstraints?.ca === true
  if (idp.onlyContainsUserCerts && isCa) return false
  if (idp.onlyContainsCACerts && !isCa) return false
  if (idp.onlyContainsAttributeCerts) return false
  return true
}

const fresh = (crl: ParsedCrl, time: number) =>
  crl.thisUpdate.getTime() <= time && (crl.nextUpdate === undefined || time <= crl.nextUpdate.getTime())

/** The entry of `crl` for `cert`, taking the certificateIssuer of indirect CRLs into account. */
const entryFor = (crl: ParsedCrl, cert: Parsed) => {
  const serial = integerKey(cert.x509.serialRaw)
  const indirect = crl.idp?.indirectCrl === true
  return crl.entries.find((entry) =>
    entry.serial === serial &&
    (indirect ? (entry.certificateIssuer ?? crl.issuer).key === cert.x509.issuer.key : true)
  )
}

/** `weak`: the CRL's signature, or the signer's own path, is weak (SHA-1, a small key: `Insecure`). */
type SignerCheck = { readonly _tag: "Valid"; readonly weak: boolean } | {
  readonly _tag: "Invalid"
  readonly reason: string
}

/**
 * Finds and checks the signer of `crl` (6.3.3 (f)): the certificate's issuer when it holds
 * the CRL issuer's name and key, else another certificate with that name (a separate
 * CRL-signing certificate, or the CA's other key after a rollover) whose own path
 * validates to the same trust anchor.
 */
const checkCrlSigner = async (
  v: Verification,
  crl: ParsedCrl,
  path: ReadonlyArray<Node>,
  i: number
): Promise<SignerCheck> => {
  const anchor = path[path.length - 1]
  const issuerNode = path[i + 1]
  const candidates: Array<{ cert: Certificate; p: Parsed; onPath: boolean; index: number }> = []
  const seen = new Set<string>()
  const consider = (cert: Certificate, onPath: boolean, index = -1) => {
    if (seen.has(cert.fingerprintSha256)) return
    seen.add(cert.fingerprintSha256)
    candidates.push({ cert, p: parsed(cert), onPath, index })
  }
  if (issuerNode !== undefined && issuerNode.p.x509.subject.key === crl.issuer.key) {
    consider(issuerNode.cert, true, i + 1)
  }
  // validating a CRL signer's own path: the CRL that covers the signer may be its own (a
  // CA's CRL-signing key signs the CRL that lists its certificate too, PKITS 4.5.6)
  if (v.depth > 0 && i === 0 && path[0].p.x509.subject.key === crl.issuer.key) consider(path[0].cert, true, 0)
  for (let k = i + 2; k < path.length; k++) {
    if (path[k].p.x509.subject.key === crl.issuer.key) consider(path[k].cert, true, k)
  }
  if (v.depth === 0) {
    for (
      const cert of [
        ...(v.store.anchorsBySubject.get(crl.issuer.key) ?? []),
        ...(v.pool.get(crl.issuer.key) ?? []),
        ...(v.store.intermediatesBySubject.get(crl.issuer.key) ?? [])
      ]
    ) consider(cert, false)
  }
  // a candidate whose key identifier matches the CRL's authorityKeyIdentifier first
  candidates.sort((a, b) =>
    Number(b.p.x509.subjectKeyId === crl.authorityKeyId) - Number(a.p.x509.subjectKeyId === crl.authorityKeyId) ||
    Number(b.onPath) - Number(a.onPath)
  )
  let reason = "no certificate of the CRL issuer verifies its signature"
  for (const candidate of candidates.slice(0, 8)) {
    if (!hasKeyUsage(candidate.p.x509, KeyUsageBit.cRLSign)) {
      reason = "the CRL issuer's keyUsage lacks cRLSign"
      continue
    }
    // a DSA key of the path without parameters takes them from up the path (RFC 3279 2.3.2)
    const inherited = candidate.index < 0 ? undefined : dsaParameters(path, candidate.index)
    const outcome = await checkSignature(
      v,
      crl,
      candidate.p,
      `crl:${Der.toHex(crl.signature.subarray(0, 32))}|${candidate.cert.fingerprintSha256}|${inherited?.from ?? ""}`,
      inherited?.params
    )
    if (outcome._tag !== "Valid") continue
    if (candidate.onPath || v.store.anchorFingerprints.has(candidate.cert.fingerprintSha256)) {
      if (candidate.onPath || candidate.cert.fingerprintSha256 === anchor.cert.fingerprintSha256) {
        return { _tag: "Valid", weak: outcome.weak }
      }
      reason = "the CRL signer is another trust anchor"
      continue
    }
    // validate the signer's own path, to the same trust anchor
    const nested: Verification = {
      store: v.store,
      options: { ...v.options, identity: undefined, email: undefined, keyUsage: undefined, extendedKeyUsage: "any" },
      // the signer's own certificate is held to the rules of any certificate (serial, extensions)
      leafProblems: certificateProblems(
        candidate.p,
        candidate.p.x509.basicConstraints?.ca === true ? "issuer" : "leaf",
        false,
        v.store.lenientAnchors,
        false
      ).map((
        detail
      ): Problem => ({ flag: "GenericError", code: "Constraints", detail })),
      pool: v.pool,
      sigCache: v.sigCache,
      depth: v.depth + 1,
      signatures: 0,
      paths: 0,
      best: undefined
    }
    await extend(nested, [{ cert: candidate.cert, p: candidate.p, isAnchor: false, link: undefined }])
    const best = nested.best
    // a signer path that is only weak makes the revocation answer weak, as on the path itself
    if (
      best !== undefined && best.complete && [...best.flags].every((flag) => flag === "Insecure") &&
      best.path[best.path.length - 1].cert.fingerprintSha256 === anchor.cert.fingerprintSha256
    ) return { _tag: "Valid", weak: outcome.weak || best.flags.size > 0 }
    reason = "the CRL signer's certificate does not validate to the same trust anchor"
  }
  return { _tag: "Invalid", reason }
}

/** `weak`: a CRL relied upon has a weak signature or signer (`Insecure`, like a weak certificate signature). */
type Status =
  | { readonly _tag: "Good"; readonly weak: boolean }
  | { readonly _tag: "Revoked"; readonly reason: number | undefined; readonly weak: boolean }
  | {
    readonly _tag: "Undetermined"
    readonly weak: boolean
    readonly problems: ReadonlyArray<string>
    /** In-scope CRLs that could not be used (bad signature, no signer, unknown critical extension). */
    readonly rejected: ReadonlyArray<string>
    /** The issuers of the CRLs given that are revocation information for the certificate (see `claims`). */
    readonly available: ReadonlyArray<string>
  }

/**
 * Whether `crl` (in scope, current) can be relied upon (and whether weakly), or why not: its own problems
 * (RFC 5280 5.2.3 a CRLNumber, 5.2.5 a critical issuingDistributionPoint, 5.2.4 a critical
 * deltaCRLIndicator, no unknown critical extension) or its signer (6.3.3 f). The same rules
 * for complete, indirect and delta CRLs.
 */
const usableCrl = async (
  v: Verification,
  crl: ParsedCrl,
  path: ReadonlyArray<Node>,
  i: number,
  what = "CRL"
): Promise<
  { readonly _tag: "Unusable"; readonly reason: string } | { readonly _tag: "Usable"; readonly weak: boolean }
> => {
  if (crl.problems.length > 0) {
    return { _tag: "Unusable", reason: `unusable ${what} of ${crl.issuer.text}: ${crl.problems.join(", ")}` }
  }
  const signer = await checkCrlSigner(v, crl, path, i)
  return signer._tag === "Invalid"
    ? { _tag: "Unusable", reason: `the ${what} of ${crl.issuer.text} cannot be used: ${signer.reason}` }
    : { _tag: "Usable", weak: signer.weak }
}

/**
 * Whether `crl` is revocation information published for `cert`, usable or not: it is issued by
 * the certificate's issuer, or by a cRLIssuer its cRLDistributionPoints name, or it is an
 * indirect CRL with an entry naming the issuer (certificateIssuer), or its
 * issuingDistributionPoint names one of the certificate's distribution points, or it was signed
 * by the issuer's key under another name (its authorityKeyIdentifier is the subjectKeyIdentifier
 * of the issuer on the path, `issuerKeyId`). Such a CRL makes
 * the certificate's status "available": when none of the CRLs given can determine it (past
 * nextUpdate, out of scope, bad signature or signer, reasons not covered), the certificate
 * fails closed even with `revocation: "ifAvailable"`.
 */
const claims = (
  crl: ParsedCrl,
  cert: Parsed,
  points: ReadonlyArray<DistributionPoint | undefined>,
  issuerKeyId: string | undefined
): boolean => {
  const x = cert.x509
  if (crl.issuer.key === x.issuer.key) return true
  if (issuerKeyId !== undefined && crl.authorityKeyId === issuerKeyId) return true
  for (const dp of points) {
    if (dp?.crlIssuer !== undefined && dnNames(dp.crlIssuer).includes(crl.issuer.key)) return true
  }
  if (
    crl.idp?.indirectCrl === true &&
    crl.entries.some((entry) => entry.certificateIssuer?.key === x.issuer.key)
  ) return true
  const idpName = crl.idp?.distributionPoint
  if (idpName === undefined) return false
  const idpNames = dpNames(idpName, crl.issuer)
  return points.some((dp) => dp?.name !== undefined && dpNames(dp.name, x.issuer).some((n) => idpNames.includes(n)))
}

const revocationStatus = async (v: Verification, path: ReadonlyArray<Node>, i: number): Promise<Status> => {
  const cert = path[i].p
  const time = v.options.time
  const points: ReadonlyArray<DistributionPoint | undefined> = cert.x509.crlDistributionPoints ?? [undefined]
  const problems: Array<string> = []
  const rejected: Array<string> = []
  let mask = 0
  let weak = false
  // newest first, as the store keeps them
  const complete = v.store.crls.filter((crl) => crl.baseCrlNumber === undefined)
  const deltas = v.store.crls.filter((crl) => crl.baseCrlNumber !== undefined)
  for (const dp of points) {
    for (const crl of complete) {
      if (mask === AllReasons) break
      if (!inScope(crl, cert, dp)) continue
      if (!fresh(crl, time)) {
        problems.push(`the CRL of ${crl.issuer.text} is not current`)
        continue
      }
      const interim = (dp?.reasons ?? AllReasons) & (crl.idp?.onlySomeReasons ?? AllReasons) & AllReasons
      if ((interim & ~mask) === 0) continue
      // an unusable CRL is set aside: another CRL may still cover the certificate
      const usable = await usableCrl(v, crl, path, i)
      if (usable._tag === "Unusable") {
        rejected.push(usable.reason)
        continue
      }
      // (c), (d) the newest delta CRL of the same scope, newer than this complete CRL and based
      // on it or an older one; a delta that claims that scope but cannot be used fails closed
      // like a complete CRL (its entries may revoke the certificate)
      let delta: ParsedCrl | undefined
      let brokenDelta = false
      let deltaWeak = false
      for (const candidate of deltas) {
        if (candidate.issuer.key !== crl.issuer.key || !fresh(candidate, time)) continue
        if ((candidate.idp === undefined) !== (crl.idp === undefined) || !inScope(candidate, cert, dp)) continue
        // (a complete CRL in use has a CRLNumber: without one it is unusable)
        if (candidate.crlNumber !== undefined) {
          if (candidate.baseCrlNumber! > crl.crlNumber! || candidate.crlNumber <= crl.crlNumber!) continue
        }
        const usableDelta = await usableCrl(v, candidate, path, i, "delta CRL")
        if (usableDelta._tag === "Unusable") {
          rejected.push(usableDelta.reason)
          brokenDelta = true
          continue
        }
        delta = candidate
        deltaWeak = usableDelta.weak
        break
      }
      const deltaEntry = delta === undefined ? undefined : entryFor(delta, cert)
      const pairWeak: boolean = weak || usable.weak || deltaWeak
      if (deltaEntry !== undefined && deltaEntry.reason !== RemoveFromCrl) {
        return { _tag: "Revoked", reason: deltaEntry.reason, weak: pairWeak }
      }
      const entry = entryFor(crl, cert)
      if (entry !== undefined && entry.reason !== RemoveFromCrl && deltaEntry?.reason !== RemoveFromCrl) {
        return { _tag: "Revoked", reason: entry.reason, weak: pairWeak }
      }
      // with an unusable delta of its scope, this CRL alone cannot say "not revoked"
      if (brokenDelta) continue
      weak = pairWeak
      mask |= interim
    }
  }
  // a revocation for good (any reason but certificateHold) stays true (5.3.1: only a held
  // certificate leaves a CRL before it expires): an older current CRL of the certificate's
  // scope that lists it so revokes it, whatever a newer one says (a CRL past its nextUpdate
  // still covers nothing, 6.3.3 a)
  for (const dp of points) {
    for (const crl of complete) {
      if (!inScope(crl, cert, dp) || !fresh(crl, time)) continue
      const entry = entryFor(crl, cert)
      if (entry === undefined || entry.reason === CertificateHold || entry.reason === RemoveFromCrl) continue
      const usable = await usableCrl(v, crl, path, i)
      if (usable._tag === "Usable") return { _tag: "Revoked", reason: entry.reason, weak: weak || usable.weak }
    }
  }
  if (mask === AllReasons) return { _tag: "Good", weak }
  const issuerKeyId = path[i + 1]?.p.x509.subjectKeyId
  const available = [
    ...new Set(v.store.crls.filter((crl) => claims(crl, cert, points, issuerKeyId)).map((crl) => crl.issuer.text))
  ]
  return { _tag: "Undetermined", problems, rejected, weak, available }
}

// ---- path evaluation ----

const evaluate = async (v: Verification, path: ReadonlyArray<Node>, complete: boolean): Promise<Evaluated> => {
  const flags: Flags = new Set()
  const reasons: Array<Reason> = []
  const add = (
    flag: CertificateFlag,
    code: Reason["code"],
    detail: string,
    certificate?: number,
    algorithm?: string
  ) => {
    flags.add(flag)
    reasons.push({ flag, code, detail, certificate, ...(algorithm === undefined ? {} : { algorithm }) })
  }
  for (const problem of v.leafProblems) add(problem.flag, problem.code, problem.detail, 0, problem.algorithm)
  if (!complete) add("UnknownCa", "NoPath", "no path to a trust anchor")
  const time = Math.floor(v.options.time / 1000) * 1000
  const ekus = requiredEkus(v.options)
  let nonSelfIssuedBelow = 0
  for (let i = 0; i < path.length; i++) {
    const node = path[i]
    const x = node.p.x509
    if (time < x.notBefore.getTime()) add("NotActivated", "Validity", "not yet valid", i)
    if (time > x.notAfter.getTime()) add("Expired", "Validity", "expired", i)
    if (i > 0) {
      for (
        const problem of certificateProblems(
          node.p,
          "issuer",
          node.isAnchor,
          v.store.lenientAnchors,
          webPkiProfile(v.options)
        )
      ) {
        add("GenericError", "Constraints", problem, i)
      }
      let link = node.link!
      if (link._tag === "NeedsParameters") link = await inheritedLink(v, path, i)
      if (link._tag === "Invalid") add("UnknownCa", "Signature", "bad signature", i - 1)
      else if (link._tag === "NeedsParameters") {
        add("GenericError", "UnsupportedAlgorithm", "DSA key without parameters to inherit", i, "DSA")
      } else if (link._tag === "Unsupported") {
        add("GenericError", "UnsupportedAlgorithm", `signature not verifiable: ${link.reason}`, i - 1, link.algorithm)
        if (link.weak) add("Insecure", "Weak", "weak signature", i - 1)
      } else if (link._tag === "Valid" && link.weak) add("Insecure", "Weak", "weak signature", i - 1)
      const pathLen = x.basicConstraints?.pathLen
      if (pathLen !== undefined && nonSelfIssuedBelow > pathLen) {
        add("GenericError", "Constraints", "path length exceeded", i)
      }
      const eku = x.extKeyUsage
      if (eku !== undefined && !eku.includes(OID.anyExtendedKeyUsage)) {
        for (const oid of ekus) {
          if (!eku.includes(oid)) add("GenericError", "ExtendedKeyUsage", `extKeyUsage does not allow ${oid}`, i)
        }
      }
      if (x.nameConstraints !== undefined) {
        for (let j = 0; j < i; j++) {
          if (j > 0 && selfIssued(path[j].p)) continue
          const problem = Constraints.checkNames(constrainedNames(path[j].p), x.nameConstraints)
          if (problem !== undefined) {
            add("GenericError", "NameConstraints", `certificate ${j}: ${problem} (certificate ${i})`, j)
            break
          }
        }
      }
      if (!node.isAnchor && !selfIssued(node.p)) nonSelfIssuedBelow++
    }
    if (keyInsecure(node.p)) add("Insecure", "Weak", "RSA key smaller than 2048 bits", i)
    if (node.p.x509.spkiAlgorithm.oid === OID.dsa) {
      // A path checked for a host name or IP address is a TLS server's, where DSA has no
      // place: TLS 1.3 has no DSA signature scheme and the CA/B Forum's Baseline
      // Requirements (6.1.5, 7.1.3.2) permit RSA and ECDSA keys only. Elsewhere (PKITS,
      // S/MIME, legacy PKIs) DSA signatures are verified (FIPS 186-5 still allows it).
      if (webPkiProfile(v.options)) {
        add("GenericError", "UnsupportedAlgorithm", "DSA key in a path for a TLS server identity", i, "DSA")
      }
      const params = dsaParameters(path, i)
      if (params === undefined) {
        if (i === 0) add("GenericError", "UnsupportedAlgorithm", "DSA key without parameters to inherit", i, "DSA")
      } else if (Dsa.keySize(params.params) < 2048) add("Insecure", "Weak", "DSA key smaller than 2048 bits", i)
    }
  }
  if (v.store.maxIntermediates !== undefined) {
    const intermediates = path.slice(1).filter((n) => !n.isAnchor && !selfIssued(n.p)).length
    if (intermediates > v.store.maxIntermediates) add("GenericError", "Constraints", "too many intermediates")
  }
  // certificate policies (6.1), over the path without its trust anchor
  let validPolicySet: ReadonlyArray<string> | undefined
  const below = complete ? path.slice(0, -1) : path
  const policy = Policy.process([...below].reverse().map((n) => n.p.x509), {
    initialPolicySet: v.options.policy?.initialPolicySet ?? [OID.anyPolicy],
    requireExplicitPolicy: v.options.policy?.requireExplicitPolicy ?? false,
    inhibitPolicyMapping: v.options.policy?.inhibitPolicyMapping ?? false,
    inhibitAnyPolicy: v.options.policy?.inhibitAnyPolicy ?? false
  })
  if (policy._tag === "Invalid") add("GenericError", "Policy", policy.reason, policy.certificate)
  else validPolicySet = policy.validPolicySet
  // revocation (6.3): every certificate below the anchor; a CRL given that cannot be read
  // may revoke any of them (fail closed, whatever the revocation mode)
  if (v.depth === 0) { for (const detail of v.store.unreadableCrls) add("GenericError", "Revocation", detail) }
  {
    for (let i = 0; i + 1 < path.length; i++) {
      const status = await revocationStatus(v, path, i)
      if (status.weak) add("Insecure", "Weak", "weak CRL signature", i)
      if (status._tag === "Revoked") add("Revoked", "Revoked", `revoked (reason ${status.reason ?? "unspecified"})`, i)
      else if (status._tag === "Undetermined") {
        // a CRL that claims to cover the certificate but cannot be used fails closed, even
        // when revocation is only checked if available (a forged or damaged CRL is no CRL);
        // the same for a CRL signer's own path (6.3.3 f: its path is validated like any);
        // and so does revocation information for it that cannot determine its status
        // (stale, out of scope, some reasons only, a delta alone), where "required" also
        // refuses a certificate for whose issuer no CRL was given at all
        if (status.rejected.length > 0) add("GenericError", "Revocation", status.rejected.join("; "), i)
        else if (v.options.revocation === "required" || status.available.length > 0) {
          const why = status.problems.length > 0 ? `: ${status.problems.join(", ")}` : ""
          const given = status.available.length > 0 ? ` (CRLs given for it: ${status.available.join("; ")})` : ""
          add("GenericError", "Revocation", `no usable CRL covers it${why}${given}`, i)
        }
      }
    }
  }
  return { flags, reasons, complete, path: [...path], validPolicySet }
}

const better = (e: Evaluated, best: Verification["best"]): boolean =>
  best === undefined || e.flags.size < best.flags.size ||
  (e.flags.size === best.flags.size && e.complete && !best.complete)

const record = async (v: Verification, path: ReadonlyArray<Node>, complete: boolean): Promise<boolean> => {
  v.paths++
  const evaluated = await evaluate(v, path, complete)
  if (better(evaluated, v.best)) v.best = evaluated
  return complete && evaluated.flags.size === 0
}

/**
 * Whether `p` obviously cannot issue `below` (the path so far, leaf first) for this
 * verification, or only insecurely: its validity, cA, keyCertSign, EKUs, path length and name
 * constraints, its key, and (below the anchor) its own signature algorithm.
 */
const unlikelyIssuer = (p: Parsed, options: Options, isAnchor: boolean, below: ReadonlyArray<Node>): boolean => {
  const x = p.x509
  // its pathLenConstraint and name constraints over the path below it (as evaluate checks them)
  const pathLen = x.basicConstraints?.pathLen
  if (pathLen !== undefined && below.slice(1).filter((n) => !selfIssued(n.p)).length > pathLen) return true
  if (x.nameConstraints !== undefined) {
    for (let j = 0; j < below.length; j++) {
      if (j > 0 && selfIssued(below[j].p)) continue
      if (Constraints.checkNames(constrainedNames(below[j].p), x.nameConstraints) !== undefined) return true
    }
  }
  const time = Math.floor(options.time / 1000) * 1000
  if (time < x.notBefore.getTime() || time > x.notAfter.getTime()) return true
  if (x.basicConstraints?.ca !== true || !hasKeyUsage(x, KeyUsageBit.keyCertSign)) return true
  if (keyInsecure(p)) return true
  if (!isAnchor) {
    const plan = Signature.plan(x.signatureAlgorithm)
    if (typeof plan === "string" || Signature.isWeakHash(plan.hash)) return true
  }
  const eku = x.extKeyUsage
  return eku !== undefined && !eku.includes(OID.anyExtendedKeyUsage) &&
    requiredEkus(options).some((oid) => !eku.includes(oid))
}

const exhausted = (v: Verification) => v.signatures >= MaxSignatures || v.paths >= MaxPaths

const extend = async (v: Verification, path: Array<Node>): Promise<boolean> => {
  const top = path[path.length - 1]
  if (top.isAnchor) return record(v, path, true)
  if (path.length > MaxDepth || exhausted(v)) return record(v, path, false)
  const x = top.p.x509
  const seen = new Set<string>()
  const candidates: Array<{ cert: Certificate; isAnchor: boolean }> = []
  for (const cert of v.store.anchorsBySubject.get(x.issuer.key) ?? []) {
    seen.add(cert.fingerprintSha256)
    candidates.push({ cert, isAnchor: true })
  }
  for (
    const cert of [...(v.pool.get(x.issuer.key) ?? []), ...(v.store.intermediatesBySubject.get(x.issuer.key) ?? [])]
  ) {
    if (seen.has(cert.fingerprintSha256)) continue
    seen.add(cert.fingerprintSha256)
    candidates.push({ cert, isAnchor: v.store.anchorFingerprints.has(cert.fingerprintSha256) })
  }
  const inPath = (cert: Certificate, p: Parsed) =>
    path.some((n) =>
      n.cert.fingerprintSha256 === cert.fingerprintSha256 ||
      (n.p.x509.subject.key === p.x509.subject.key && Der.equalBytes(n.p.x509.spki, p.x509.spki))
    )
  // issuers that can issue now first, then anchors, then by key identifier match (a mismatch,
  // or an expired or non-CA candidate, is tried later, not excluded): in a lattice of
  // cross-signed alternatives the valid path is then among the first tried, within the bounds
  const scored = candidates
    .map((c) => ({ ...c, p: parsed(c.cert) }))
    .filter((c) => !inPath(c.cert, c.p))
    .map((c) => ({
      ...c,
      score: (unlikelyIssuer(c.p, v.options, c.isAnchor, path) ? 8 : 0) + (c.isAnchor ? 0 : 4) +
        (x.authorityKeyId === undefined || c.p.x509.subjectKeyId === undefined
          ? 1
          : c.p.x509.subjectKeyId === x.authorityKeyId
          ? 0
          : 2)
    }))
    .sort((a, b) => a.score - b.score)
    .slice(0, MaxCandidates)
  let extended = false
  for (const candidate of scored) {
    if (exhausted(v)) break
    const link = await checkSignature(
      v,
      top.p.x509,
      candidate.p,
      `${top.cert.fingerprintSha256}|${candidate.cert.fingerprintSha256}`
    )
    if (link._tag === "Invalid") continue
    extended = true
    path.push({ cert: candidate.cert, p: candidate.p, isAnchor: candidate.isAnchor, link })
    const ok = await extend(v, path)
    path.pop()
    if (ok) return true
  }
  if (!extended) return record(v, path, false)
  return false
}

const failure = (detail: string): VerifyResult => ({
  flags: new Set<CertificateFlag>(["UnknownCa", "GenericError"]),
  reasons: [{ flag: "GenericError", code: "Malformed", detail }],
  path: undefined,
  validPolicySet: undefined
})

/**
 * Verifies `chain` (leaf first; the rest in any order) against `store`. Never rejects.
 *
 * @internal
 */
export const verifyChain = async (
  store: Store,
  chain: ReadonlyArray<Certificate>,
  options: Options
): Promise<VerifyResult> => {
  const leaf = chain[0]
  if (leaf === undefined) return failure("empty chain")
  try {
    const leafParsed = parsed(leaf)
    const isAnchor = store.anchorFingerprints.has(leaf.fingerprintSha256)
    const problems: Array<Problem> = [
      ...certificateProblems(leafParsed, "leaf", isAnchor, store.lenientAnchors, webPkiProfile(options)).map((
        detail
      ): Problem => ({
        flag: "GenericError",
        code: "Constraints",
        detail
      })),
      ...leafProblems(leafParsed, options)
    ]
    if (options.identity !== undefined && !identityMatches(leafParsed, options.identity)) {
      problems.push({ flag: "BadIdentity", code: "Identity", detail: `does not match ${options.identity}` })
    }
    if (options.email !== undefined && !emailMatches(leafParsed, options.email)) {
      problems.push({ flag: "BadIdentity", code: "Identity", detail: `does not name ${options.email}` })
    }
    // the pool: the peer's other certificates, then the database's intermediates
    const pool = new Map<string, Array<Certificate>>()
    for (const cert of chain.slice(1, 64)) {
      const key = parsed(cert).x509.subject.key
      const list = pool.get(key)
      if (list === undefined) pool.set(key, [cert])
      else if (!list.some((c) => c.fingerprintSha256 === cert.fingerprintSha256)) list.push(cert)
    }
    const v: Verification = {
      store,
      options,
      leafProblems: problems,
      pool,
      sigCache: new Map(),
      depth: 0,
      signatures: 0,
      paths: 0,
      best: undefined
    }
    await extend(v, [{ cert: leaf, p: leafParsed, isAnchor, link: undefined }])
    const best = v.best
    if (best === undefined) return failure("no path evaluated")
    const ok = best.flags.size === 0
    return {
      flags: best.flags,
      reasons: best.reasons,
      path: ok ? best.path.map((n) => n.cert) : undefined,
      validPolicySet: ok ? best.validPolicySet : undefined
    }
  } catch (cause) {
    return failure(`verification failed: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
}
