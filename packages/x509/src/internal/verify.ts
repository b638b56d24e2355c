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
import type { Certificate } from "../../Certificate.js"
import type { CertificateFlag } from "../../CertificateFlags.js"
import type { Purpose } from "../../TlsDatabase.js"
import type { Parsed } from "./certificate.js"
import { parsed } from "./certificate.js"
import * as Constraints from "./constraints.js"
import type { ParsedCrl } from "./crl.js"
import * as Der from "./der.js"
import * as Name from "./name.js"
import { OID } from "./oids.js"
import type { AlgorithmId } from "./parse.js"
import { hasKeyUsage, KeyUsageBit } from "./parse.js"
import * as Signature from "./signature.js"

/** @internal */
export interface Store {
  readonly anchors: ReadonlyArray<Certificate>
  readonly anchorsBySubject: ReadonlyMap<string, ReadonlyArray<Certificate>>
  readonly anchorFingerprints: ReadonlySet<string>
  readonly intermediatesBySubject: ReadonlyMap<string, ReadonlyArray<Certificate>>
  readonly crls: ReadonlyArray<ParsedCrl>
  /** Maximum number of (non-self-issued) intermediates; unbounded when undefined. */
  readonly maxIntermediates: number | undefined
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

/** @internal */
export const makeStore = (
  anchors: ReadonlyArray<Certificate>,
  intermediates: ReadonlyArray<Certificate>,
  crls: ReadonlyArray<ParsedCrl>,
  maxIntermediates: number | undefined
): Store => ({
  anchors,
  anchorsBySubject: index(anchors),
  anchorFingerprints: new Set(anchors.map((a) => a.fingerprintSha256)),
  intermediatesBySubject: index(intermediates),
  crls,
  maxIntermediates
})

/** @internal */
export interface Options {
  readonly purpose: Purpose
  readonly identity: string | undefined
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

/** Structural rules for one certificate, whatever its position. */
const certificateProblems = (p: Parsed, position: "leaf" | "issuer", isAnchor: boolean): Array<string> => {
  const x = p.x509
  const out: Array<string> = [...x.problems]
  for (const ext of x.extensions) {
    if (ext.critical && !knownExtensions.has(ext.oid)) out.push(`unknown critical extension ${ext.oid}`)
  }
  const ext = (oid: string) => x.extensions.find((e) => e.oid === oid)
  if (x.issuer.rdns.length === 0) out.push("empty issuer")
  if (!isAnchor) {
    if (x.version !== 3) out.push(`version ${x.version} certificate`)
    const serial = x.serial
    const raw = x.serialRaw
    if ((raw[0] & 0x80) !== 0) out.push("negative serial number")
    else if (serial.length === 1 && serial[0] === 0) out.push("zero serial number")
    if (raw.length > 20) out.push("serial number longer than 20 octets")
  }
  if (ext(OID.authorityKeyIdentifier)?.critical) out.push("critical authorityKeyIdentifier")
  if (ext(OID.subjectKeyIdentifier)?.critical) out.push("critical subjectKeyIdentifier")
  if (ext(OID.authorityInfoAccess)?.critical) out.push("critical authorityInfoAccess")
  const pc = ext(OID.policyConstraints)
  if (pc !== undefined && !pc.critical) out.push("non-critical policyConstraints")
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
    // (trust anchors are exempt from these two formatting rules: Node's bundled Mozilla
    // store has a root with a non-critical basicConstraints and one without SKI)
    else if (!isAnchor && !ext(OID.basicConstraints)!.critical) out.push("non-critical basicConstraints in a CA")
    if (!hasKeyUsage(x, KeyUsageBit.keyCertSign)) out.push("issuer keyUsage without keyCertSign")
    if (x.subject.rdns.length === 0) out.push("CA with an empty subject")
    if (!isAnchor && x.subjectKeyId === undefined) out.push("CA without subjectKeyIdentifier")
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

const leafProblems = (p: Parsed, options: Options): { generic: Array<string>; insecure: boolean } => {
  const x = p.x509
  const generic: Array<string> = []
  let insecure = false
  const purposeOid = options.purpose === "server" ? OID.serverAuth : OID.clientAuth
  if (x.extKeyUsage !== undefined) {
    if (!x.extKeyUsage.includes(purposeOid)) generic.push("extKeyUsage does not allow the purpose")
    if (x.extensions.find((e) => e.oid === OID.extKeyUsage)?.critical) generic.push("critical extKeyUsage")
    if (x.extKeyUsage.includes(OID.anyExtendedKeyUsage)) {
      generic.push("anyExtendedKeyUsage in an end-entity certificate")
    }
  }
  // subscriber keys
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
      break
    default:
      insecure = true
  }
  // CA/B BR 7.1.4.3: a common name naming an IP address or an internationalized or
  // differently-cased host must be one of the subjectAltName entries, verbatim. (A plain
  // host-name CN that is not in the SAN is tolerated: the CN is never used for identity.)
  if (options.purpose === "server" && x.subjectAltNames !== undefined) {
    const dns = x.subjectAltNames.flatMap((n) => n.kind === "dns" ? [n.value] : [])
    const ips = x.subjectAltNames.flatMap((n) => n.kind === "ip" ? [Name.formatIp(n.bytes)] : [])
    for (const attr of x.subject.attributes) {
      if (attr.oid !== OID.commonName) continue
      const cn = attr.value
      if (dns.includes(cn) || ips.includes(cn)) continue
      const ipLike = Name.parseIp(cn) !== undefined || /^[0-9.]+$/.test(cn) ||
        /^0x[0-9a-f]+(\.0x[0-9a-f]+)*$/i.test(cn) || (cn.includes(":") && /^[0-9a-f:.]+$/i.test(cn))
      const caseVariant = dns.some((d) => d.toLowerCase() === cn.toLowerCase())
      const international = /[^\p{ASCII}]/u.test(cn) || /(^|\.)xn--/i.test(cn)
      if (ipLike || caseVariant || international) {
        generic.push(`common name ${cn} is not one of the subjectAltName entries`)
      }
    }
  }
  return { generic, insecure }
}

/** @internal */
export const identityMatches = (p: Parsed, identity: string): boolean => {
  const ip = Name.parseIp(identity)
  const sans = p.x509.subjectAltNames ?? []
  if (ip !== undefined) return sans.some((n) => n.kind === "ip" && Der.equalBytes(n.bytes, ip))
  return sans.some((n) => n.kind === "dns" && Constraints.matchesDns(n.value, identity))
}

const keyInsecure = (p: Parsed): boolean =>
  (p.x509.publicKey.algorithm === "RSA" || p.x509.publicKey.algorithm === "RSA-PSS") && p.x509.publicKey.size < 2048

/** The names of a certificate that name constraints apply to. */
const constrainedNames = (p: Parsed): Array<Name.GeneralName> => {
  const out: Array<Name.GeneralName> = [...(p.x509.subjectAltNames ?? [])]
  if (p.x509.subject.rdns.length > 0) out.push({ kind: "dn", name: p.x509.subject })
  return out
}

interface Verification {
  readonly store: Store
  readonly options: Options
  readonly leafFlags: ReadonlySet<CertificateFlag>
  readonly leafReasons: ReadonlyArray<string>
  /** When set, the reasons of every evaluated path are collected (diagnostics). */
  readonly reasons: Array<Array<string>> | undefined
  readonly sigCache: Map<string, Promise<Signature.Outcome>>
  signatures: number
  paths: number
  best: { readonly flags: Flags; readonly complete: boolean } | undefined
}

const checkSignature = (
  v: Verification,
  signed: { readonly signatureAlgorithm: AlgorithmId; readonly tbs: Uint8Array; readonly signature: Uint8Array },
  issuer: Parsed,
  key: string
): Promise<Signature.Outcome> => {
  const cached = v.sigCache.get(key)
  if (cached !== undefined) return cached
  v.signatures++
  const promise = Signature.verify(issuer, signed.signatureAlgorithm, signed.tbs, signed.signature)
  v.sigCache.set(key, promise)
  return promise
}

const evaluate = async (v: Verification, path: ReadonlyArray<Node>, complete: boolean): Promise<Flags> => {
  const flags: Flags = new Set(v.leafFlags)
  const reasons: Array<string> = [...v.leafReasons]
  const add = (flag: CertificateFlag, reason: string) => {
    flags.add(flag)
    reasons.push(`${flag}: ${reason}`)
  }
  if (!complete) add("UnknownCa", "no path to a trust anchor")
  const time = Math.floor(v.options.time / 1000) * 1000
  let nonSelfIssuedBelow = 0
  for (let i = 0; i < path.length; i++) {
    const node = path[i]
    const x = node.p.x509
    if (time < x.notBefore.getTime()) add("NotActivated", `certificate ${i}`)
    if (time > x.notAfter.getTime()) add("Expired", `certificate ${i}`)
    if (i > 0) {
      for (const problem of certificateProblems(node.p, "issuer", node.isAnchor)) {
        add("GenericError", `certificate ${i}: ${problem}`)
      }
      const link = node.link!
      if (link._tag === "Unsupported") {
        add("GenericError", `certificate ${i - 1}: signature not verifiable: ${link.reason}`)
        if (link.weak) add("Insecure", `certificate ${i - 1}: weak signature`)
      } else if (link._tag === "Valid" && link.weak) add("Insecure", `certificate ${i - 1}: weak signature`)
      const pathLen = x.basicConstraints?.pathLen
      if (pathLen !== undefined && nonSelfIssuedBelow > pathLen) {
        add("GenericError", `certificate ${i}: path length exceeded`)
      }
      const eku = x.extKeyUsage
      const purposeOid = v.options.purpose === "server" ? OID.serverAuth : OID.clientAuth
      if (eku !== undefined && !eku.includes(purposeOid) && !eku.includes(OID.anyExtendedKeyUsage)) {
        add("GenericError", `certificate ${i}: extKeyUsage does not allow the purpose`)
      }
      if (x.nameConstraints !== undefined) {
        for (let j = 0; j < i; j++) {
          if (j > 0 && selfIssued(path[j].p)) continue
          const problem = Constraints.checkNames(constrainedNames(path[j].p), x.nameConstraints)
          if (problem !== undefined) {
            add("GenericError", `certificate ${j}: ${problem} (certificate ${i})`)
            break
          }
        }
      }
      if (!node.isAnchor && !selfIssued(node.p)) nonSelfIssuedBelow++
    }
    if (keyInsecure(node.p)) add("Insecure", `certificate ${i}: RSA key smaller than 2048 bits`)
  }
  if (v.store.maxIntermediates !== undefined) {
    const intermediates = path.slice(1).filter((n) => !n.isAnchor && !selfIssued(n.p)).length
    if (intermediates > v.store.maxIntermediates) add("GenericError", "too many intermediates")
  }
  // Revocation: a CRL by the issuer of each certificate of the path.
  for (let i = 0; i + 1 < path.length; i++) {
    const subject = path[i].p.x509
    const issuer = path[i + 1]
    for (const crl of v.store.crls) {
      if (crl.issuer.key !== subject.issuer.key) continue
      if (crl.problems.length > 0 || !hasKeyUsage(issuer.p.x509, KeyUsageBit.cRLSign)) {
        add(
          "GenericError",
          `unusable CRL for certificate ${i}: ${[...crl.problems, "issuer without cRLSign"].join(", ")}`
        )
        continue
      }
      const outcome = await checkSignature(
        v,
        crl,
        issuer.p,
        `crl:${Der.toHex(crl.signature.subarray(0, 32))}|${issuer.cert.fingerprintSha256}`
      )
      if (outcome._tag !== "Valid") {
        add("GenericError", `CRL for certificate ${i} has a bad signature`)
        continue
      }
      if (crl.revoked.has(Der.toHex(subject.serial))) add("Revoked", `certificate ${i}`)
    }
  }
  if (flags.size > 0 && v.reasons !== undefined) v.reasons.push(reasons)
  return flags
}

const better = (flags: Flags, complete: boolean, best: Verification["best"]): boolean =>
  best === undefined || flags.size < best.flags.size || (flags.size === best.flags.size && complete && !best.complete)

const record = async (v: Verification, path: ReadonlyArray<Node>, complete: boolean): Promise<boolean> => {
  v.paths++
  const flags = await evaluate(v, path, complete)
  if (better(flags, complete, v.best)) v.best = { flags, complete }
  return complete && flags.size === 0
}

const exhausted = (v: Verification) => v.signatures >= MaxSignatures || v.paths >= MaxPaths

const extend = async (
  v: Verification,
  path: Array<Node>,
  pool: ReadonlyMap<string, ReadonlyArray<Certificate>>
): Promise<boolean> => {
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
  for (const cert of [...(pool.get(x.issuer.key) ?? []), ...(v.store.intermediatesBySubject.get(x.issuer.key) ?? [])]) {
    if (seen.has(cert.fingerprintSha256)) continue
    seen.add(cert.fingerprintSha256)
    candidates.push({ cert, isAnchor: v.store.anchorFingerprints.has(cert.fingerprintSha256) })
  }
  const inPath = (cert: Certificate, p: Parsed) =>
    path.some((n) =>
      n.cert.fingerprintSha256 === cert.fingerprintSha256 ||
      (n.p.x509.subject.key === p.x509.subject.key && Der.equalBytes(n.p.x509.spki, p.x509.spki))
    )
  // anchors first, then by key identifier match (a mismatch is tried last, not excluded)
  const scored = candidates
    .map((c) => ({ ...c, p: parsed(c.cert) }))
    .filter((c) => !inPath(c.cert, c.p))
    .map((c) => ({
      ...c,
      score: (c.isAnchor ? 0 : 4) + (x.authorityKeyId === undefined || c.p.x509.subjectKeyId === undefined
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
    const ok = await extend(v, path, pool)
    path.pop()
    if (ok) return true
  }
  if (!extended) return record(v, path, false)
  return false
}

/**
 * Verifies `chain` (leaf first; the rest in any order) against `store`. Never rejects.
 *
 * @internal
 */
export const verifyChain = async (
  store: Store,
  chain: ReadonlyArray<Certificate>,
  options: Options,
  reasons?: Array<Array<string>>
): Promise<ReadonlySet<CertificateFlag>> => {
  const leaf = chain[0]
  if (leaf === undefined) return new Set<CertificateFlag>(["UnknownCa", "GenericError"])
  try {
    const leafParsed = parsed(leaf)
    const leafFlags: Flags = new Set()
    const leafReasons: Array<string> = []
    const isAnchor = store.anchorFingerprints.has(leaf.fingerprintSha256)
    const lp = leafProblems(leafParsed, options)
    for (const problem of [...certificateProblems(leafParsed, "leaf", isAnchor), ...lp.generic]) {
      leafFlags.add("GenericError")
      leafReasons.push(`GenericError: leaf: ${problem}`)
    }
    if (lp.insecure) {
      leafFlags.add("Insecure")
      leafReasons.push("Insecure: leaf key")
    }
    if (options.identity !== undefined && !identityMatches(leafParsed, options.identity)) {
      leafFlags.add("BadIdentity")
      leafReasons.push(`BadIdentity: ${options.identity}`)
    }
    // the pool: the peer's other certificates, then the database's intermediates
    const pool = new Map<string, Array<Certificate>>()
    const add = (cert: Certificate) => {
      const key = parsed(cert).x509.subject.key
      const list = pool.get(key)
      if (list === undefined) pool.set(key, [cert])
      else if (!list.some((c) => c.fingerprintSha256 === cert.fingerprintSha256)) list.push(cert)
    }
    for (const cert of chain.slice(1, 64)) add(cert)
    const v: Verification = {
      store,
      options,
      leafFlags,
      leafReasons,
      reasons,
      sigCache: new Map(),
      signatures: 0,
      paths: 0,
      best: undefined
    }
    await extend(v, [{ cert: leaf, p: leafParsed, isAnchor, link: undefined }], pool)
    return v.best?.flags ?? new Set<CertificateFlag>(["UnknownCa", "GenericError"])
  } catch {
    return new Set<CertificateFlag>(["UnknownCa", "GenericError"])
  }
}
