/**
 * RFC 5280 completeness of `@effect-tls/x509`'s `Verifier` (issue 9), each case written
 * from the RFC text with certificates and CRLs made by the test PKI. Every case asserts
 * the exact flags, and the valid policy set where §6.1.6 defines one.
 */
import * as Certificate from "@effect-tls/core/Certificate"
import type * as TestPki from "@effect-tls/testkit/TestPki"
import * as Pki from "@effect-tls/testkit/TestPki"
import * as CertificateFlags from "@effect-tls/x509/CertificateFlags"
import * as Crl from "@effect-tls/x509/Crl"
import * as Der from "@effect-tls/x509/Der"
import * as Verifier from "@effect-tls/x509/Verifier"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as NodeCrypto from "node:crypto"

const NOW = new Date("2030-01-15T12:00:00Z")
const DAY = 86_400_000

// ---- DER for the extensions the PKI's options do not cover ----

const utf8 = (s: string) => new TextEncoder().encode(s)
const seq = (...parts: ReadonlyArray<Uint8Array>) => Der.encode(Der.Tag.SEQUENCE, ...parts)
const oid = (o: string) => Der.encodeOid(o)
const int = (n: number) => Der.encode(Der.Tag.INTEGER, Uint8Array.of(n))
const TRUE = Uint8Array.of(0xff)
const bits = (set: ReadonlyArray<number>): Uint8Array => {
  const max = Math.max(...set)
  const bytes = new Uint8Array(Math.floor(max / 8) + 1)
  for (const b of set) bytes[b >> 3] |= 0x80 >> (b & 7)
  // the contents of a BIT STRING (the [3] IMPLICIT tag replaces its own)
  return Uint8Array.of(bytes.length * 8 - 1 - max, ...bytes)
}
const uri = (u: string) => Der.encode(0x86, utf8(u))
const dirName = (cert: TestPki.Issued) => Der.encode(0xa4, cert.certificate.subject.der)

const P1 = "1.3.6.1.4.1.99999.1"
const P2 = "1.3.6.1.4.1.99999.2"
const P3 = "1.3.6.1.4.1.99999.3"
const ANY = "2.5.29.32.0"

const policies = (...oids: ReadonlyArray<string>): TestPki.RawExtension => ({
  oid: "2.5.29.32",
  value: seq(...oids.map((o) => seq(oid(o))))
})
const mappings = (...pairs: ReadonlyArray<readonly [string, string]>): TestPki.RawExtension => ({
  oid: "2.5.29.33",
  critical: true,
  value: seq(...pairs.map(([a, b]) => seq(oid(a), oid(b))))
})
const policyConstraints = (require?: number, inhibitMapping?: number): TestPki.RawExtension => ({
  oid: "2.5.29.36",
  critical: true,
  value: seq(
    ...(require === undefined ? [] : [Der.encode(0x80, Uint8Array.of(require))]),
    ...(inhibitMapping === undefined ? [] : [Der.encode(0x81, Uint8Array.of(inhibitMapping))])
  )
})
const inhibitAnyPolicy = (skip: number): TestPki.RawExtension => ({
  oid: "2.5.29.54",
  critical: true,
  value: int(skip)
})

const cdp = (
  ...points: ReadonlyArray<
    { readonly full?: ReadonlyArray<Uint8Array>; readonly crlIssuer?: ReadonlyArray<Uint8Array> }
  >
): TestPki.RawExtension => ({
  oid: "2.5.29.31",
  value: seq(...points.map((p) =>
    seq(
      ...(p.full === undefined ? [] : [Der.encode(0xa0, Der.encode(0xa0, ...p.full))]),
      ...(p.crlIssuer === undefined ? [] : [Der.encode(0xa2, ...p.crlIssuer)])
    )
  ))
})
const idp = (options: {
  readonly full?: ReadonlyArray<Uint8Array>
  readonly onlyUser?: boolean
  readonly onlyCa?: boolean
  readonly reasons?: ReadonlyArray<number>
  readonly indirect?: boolean
}): TestPki.RawExtension => ({
  oid: "2.5.29.28",
  critical: true,
  value: seq(
    ...(options.full === undefined ? [] : [Der.encode(0xa0, Der.encode(0xa0, ...options.full))]),
    ...(options.onlyUser ? [Der.encode(0x81, TRUE)] : []),
    ...(options.onlyCa ? [Der.encode(0x82, TRUE)] : []),
    ...(options.reasons === undefined ? [] : [Der.encode(0x83, bits(options.reasons))]),
    ...(options.indirect ? [Der.encode(0x84, TRUE)] : [])
  )
})
const deltaIndicator = (base: number): TestPki.RawExtension => ({ oid: "2.5.29.27", critical: true, value: int(base) })
const reasonCode = (code: number): TestPki.RawExtension => ({
  oid: "2.5.29.21",
  value: Der.encode(0x0a, Uint8Array.of(code))
})
const certificateIssuer = (of: TestPki.Issued): TestPki.RawExtension => ({
  oid: "2.5.29.29",
  critical: true,
  value: seq(dirName(of))
})
const nameConstraints = (
  permitted: ReadonlyArray<Uint8Array>,
  excluded: ReadonlyArray<Uint8Array> = []
): TestPki.RawExtension => ({
  oid: "2.5.29.30",
  critical: true,
  value: seq(
    ...(permitted.length > 0 ? [Der.encode(0xa0, ...permitted.map((n) => seq(n)))] : []),
    ...(excluded.length > 0 ? [Der.encode(0xa1, ...excluded.map((n) => seq(n)))] : [])
  )
})
const san = (...names: ReadonlyArray<Uint8Array>): TestPki.RawExtension => ({ oid: "2.5.29.17", value: seq(...names) })

// ---- helpers ----

/** `der` (a certificate or CRL) with its TBS fields changed by `mutate`, signed again with `key` (SHA-256). */
const resign = (
  der: Uint8Array,
  key: NodeCrypto.KeyObject,
  mutate: (fields: Array<Uint8Array>) => Array<Uint8Array>,
  /** ecdsa-with-SHA1 instead of the algorithm as it is (a certificate's TBS signature field too). */
  sha1 = false
): Uint8Array => {
  const [tbs, alg] = Der.children(der, Der.readOnly(der, Der.Tag.SEQUENCE))
  const algorithm = sha1 ? seq(oid("1.2.840.10045.4.1")) : Der.whole(der, alg)
  const fields = mutate(Der.children(der, tbs).map((f) => Der.whole(der, f)))
  const newTbs = Der.encode(Der.Tag.SEQUENCE, ...(sha1 ? fields.map((f, i) => i === 2 ? algorithm : f) : fields))
  const signature = new Uint8Array(NodeCrypto.sign(sha1 ? "sha1" : "sha256", newTbs, key))
  return Der.encode(Der.Tag.SEQUENCE, newTbs, algorithm, Der.encode(Der.Tag.BIT_STRING, Uint8Array.of(0), signature))
}

/** A certificate with the serial INTEGER's contents replaced (TBS field 1 after the version). */
const withSerial = (der: Uint8Array, key: NodeCrypto.KeyObject, contents: ReadonlyArray<number>) =>
  resign(
    der,
    key,
    (fields) => fields.map((f, i) => i === 1 ? Der.encode(Der.Tag.INTEGER, Uint8Array.from(contents)) : f)
  )

/** A CRL without the extension `oid` (its crlExtensions are the last TBSCertList field). */
const crlWithout = (crl: TestPki.Crl, key: NodeCrypto.KeyObject, oidText: string) =>
  resign(crl.der, key, (fields) => {
    const last = fields[fields.length - 1]
    const [list] = Der.children(last, Der.readOnly(last, 0xa0))
    const kept = Der.children(last, list).filter((ext) => Der.readOid(last, Der.children(last, ext)[0]) !== oidText)
    return [
      ...fields.slice(0, -1),
      Der.encode(0xa0, Der.encode(Der.Tag.SEQUENCE, ...kept.map((e) => Der.whole(last, e))))
    ]
  })

const verify = (
  anchors: ReadonlyArray<TestPki.Authority>,
  chain: ReadonlyArray<TestPki.Issued | Certificate.Certificate>,
  options: Partial<Verifier.VerifyOptions> = {},
  extra: { readonly intermediates?: ReadonlyArray<TestPki.Issued>; readonly crls?: ReadonlyArray<TestPki.Crl> } = {}
) =>
  Verifier.make({
    anchors: anchors.map((a) => a.ca.certificate),
    intermediates: (extra.intermediates ?? []).map((i) => i.certificate),
    crls: (extra.crls ?? []).map((c) => c.der)
  }).verify(
    chain.map((c) => "certificate" in c ? c.certificate : c),
    { purpose: "client", time: NOW, extendedKeyUsage: "any", ...options }
  )

/** `verify` with DER CRLs the test PKI did not make. */
const verifyDer = (
  anchors: ReadonlyArray<TestPki.Authority>,
  chain: ReadonlyArray<TestPki.Issued>,
  crls: ReadonlyArray<Uint8Array>
) =>
  Verifier.make({ anchors: anchors.map((a) => a.ca.certificate), crls }).verify(
    chain.map((c) => c.certificate),
    { purpose: "client", time: NOW, extendedKeyUsage: "any" }
  )

const flags = (result: Verifier.VerifyResult) => CertificateFlags.toArray(result.flags)
const expectValid = (result: Verifier.VerifyResult) =>
  assert.deepStrictEqual(flags(result), [], result.reasons.map((r) => r.detail).join("; "))
/** Only a revocation status that cannot be determined (`GenericError`, code `Revocation`). */
const expectUndetermined = (result: Verifier.VerifyResult) => {
  assert.deepStrictEqual(flags(result), ["GenericError"], result.reasons.map((r) => r.detail).join("; "))
  assert.isTrue(result.reasons.every((r) => r.code === "Revocation"))
}

const leafOf = (authority: TestPki.Authority, extraExtensions: ReadonlyArray<TestPki.RawExtension>, serial?: bigint) =>
  authority.issue({ extraExtensions, ...(serial === undefined ? {} : { serial }) })

/** root → intermediate → leaf, the intermediate and leaf with the given extensions. */
const chainWith = (
  intermediateExtensions: ReadonlyArray<TestPki.RawExtension>,
  leafExtensions: ReadonlyArray<TestPki.RawExtension>
) =>
  Effect.gen(function*() {
    const root = yield* Pki.make({ now: NOW })
    const ca = yield* root.intermediate({ extraExtensions: intermediateExtensions })
    const leaf = yield* leafOf(ca, leafExtensions)
    return { root, ca, leaf, chain: [leaf, ca.ca] }
  })

describe("RFC 5280 6.1: certificate policies", () => {
  it.effect("a policy asserted down the path is the valid policy set; explicit policy holds", () =>
    Effect.gen(function*() {
      const { chain, root } = yield* chainWith([policies(P1)], [policies(P1)])
      const result = yield* verify([root], chain, { policy: { requireExplicitPolicy: true } })
      expectValid(result)
      assert.deepStrictEqual(result.validPolicySet, [P1])
      // a user-initial-policy-set without P1 leaves no valid policy (6.1.5 g)
      const other = yield* verify([root], chain, { policy: { requireExplicitPolicy: true, initialPolicySet: [P2] } })
      assert.deepStrictEqual(flags(other), ["GenericError"])
      assert.isTrue(other.reasons.some((r) => r.code === "Policy"))
    }))

  it.effect("disjoint policies: the tree becomes NULL, which only an explicit policy refuses", () =>
    Effect.gen(function*() {
      const { chain, root } = yield* chainWith([policies(P1)], [policies(P2)])
      const lax = yield* verify([root], chain)
      expectValid(lax)
      assert.deepStrictEqual(lax.validPolicySet, [])
      assert.deepStrictEqual(flags(yield* verify([root], chain, { policy: { requireExplicitPolicy: true } })), [
        "GenericError"
      ])
    }))

  it.effect("a certificate without certificatePolicies NULLs the tree (6.1.3 e)", () =>
    Effect.gen(function*() {
      const { chain, root } = yield* chainWith([policies(P1)], [])
      assert.deepStrictEqual(flags(yield* verify([root], chain, { policy: { requireExplicitPolicy: true } })), [
        "GenericError"
      ])
    }))

  it.effect("policyConstraints requireExplicitPolicy in a CA applies without the option (6.1.4 i)", () =>
    Effect.gen(function*() {
      const bad = yield* chainWith([policies(P1), policyConstraints(0)], [])
      assert.deepStrictEqual(flags(yield* verify([bad.root], bad.chain)), ["GenericError"])
      const good = yield* chainWith([policies(P1), policyConstraints(0)], [policies(P1)])
      expectValid(yield* verify([good.root], good.chain))
    }))

  it.effect("a critical extKeyUsage is honoured (4.2.1.12: either way); TLS server paths refuse it (CA/B Forum)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const criticalEku: TestPki.RawExtension = {
        oid: "2.5.29.37",
        critical: true,
        value: seq(oid("1.3.6.1.5.5.7.3.1"))
      }
      const leaf = yield* root.issue({
        dnsNames: ["server.example"],
        extendedKeyUsage: "none",
        extraExtensions: [criticalEku]
      })
      expectValid(yield* verify([root], [leaf], { purpose: "server", extendedKeyUsage: undefined }))
      const server = yield* verify([root], [leaf], { purpose: "server", identity: "server.example" })
      assert.deepStrictEqual(server.reasons.map((r) => r.detail), ["critical extKeyUsage"])
    }))

  it.effect("a CA with a non-critical basicConstraints is a CA (4.2.1.9's MUST binds CAs); TLS server paths refuse it", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const nonCritical: TestPki.RawExtension = {
        oid: "2.5.29.19",
        value: seq(Der.encode(Der.Tag.BOOLEAN, Uint8Array.of(0xff)))
      }
      const ca = yield* root.intermediate({ isCa: "omit", extraExtensions: [nonCritical] })
      const leaf = yield* ca.issue({ dnsNames: ["server.example"] })
      expectValid(yield* verify([root], [leaf, ca.ca]))
      const server = yield* verify([root], [leaf, ca.ca], { identity: "server.example" })
      assert.isTrue(server.reasons.some((r) => r.detail === "non-critical basicConstraints in a CA"))
    }))

  it.effect("a non-critical policyConstraints is processed (4.2.1.11's MUST binds CAs); TLS server paths refuse it", () =>
    Effect.gen(function*() {
      const nonCritical = { ...policyConstraints(0), critical: false }
      const bad = yield* chainWith([policies(P1), nonCritical], [])
      // processed: requireExplicitPolicy 0 with a leaf that asserts no policy
      assert.deepStrictEqual(flags(yield* verify([bad.root], bad.chain)), ["GenericError"])
      const good = yield* chainWith([policies(P1), nonCritical], [policies(P1)])
      expectValid(yield* verify([good.root], good.chain))
      // a path checked for a host name is held to the issuance rule (the Web PKI's profile)
      const server = yield* good.ca.issue({ dnsNames: ["server.example"], extraExtensions: [policies(P1)] })
      const result = yield* verify([good.root], [server, good.ca.ca], { identity: "server.example" })
      assert.isTrue(result.reasons.some((r) => r.detail === "non-critical policyConstraints"))
    }))

  it.effect("policy mappings: P1 in the issuer's domain is P2 in the subject's (6.1.4 b)", () =>
    Effect.gen(function*() {
      const { chain, root } = yield* chainWith([policies(P1), mappings([P1, P2])], [policies(P2)])
      const result = yield* verify([root], chain, { policy: { requireExplicitPolicy: true, initialPolicySet: [P1] } })
      expectValid(result)
      assert.deepStrictEqual(result.validPolicySet, [P1])
      // initial-policy-mapping-inhibit: the mapped node is deleted
      assert.deepStrictEqual(
        flags(yield* verify([root], chain, { policy: { requireExplicitPolicy: true, inhibitPolicyMapping: true } })),
        ["GenericError"]
      )
    }))

  it.effect("policyConstraints inhibitPolicyMapping in a CA stops mapping below it", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const top = yield* root.intermediate({ extraExtensions: [policies(P1), policyConstraints(undefined, 0)] })
      const mid = yield* top.intermediate({ extraExtensions: [policies(P1), mappings([P1, P2])] })
      const leaf = yield* leafOf(mid, [policies(P2)])
      assert.deepStrictEqual(
        flags(yield* verify([root], [leaf, mid.ca, top.ca], { policy: { requireExplicitPolicy: true } })),
        ["GenericError"]
      )
      const mid2 = yield* top.intermediate({ extraExtensions: [policies(P1)] })
      const leaf2 = yield* leafOf(mid2, [policies(P1)])
      expectValid(yield* verify([root], [leaf2, mid2.ca, top.ca], { policy: { requireExplicitPolicy: true } }))
    }))

  it.effect("anyPolicy in a CA matches any policy below, unless inhibited (6.1.3 d 2)", () =>
    Effect.gen(function*() {
      const { chain, root } = yield* chainWith([policies(ANY)], [policies(P3)])
      const result = yield* verify([root], chain, { policy: { requireExplicitPolicy: true } })
      expectValid(result)
      assert.deepStrictEqual(result.validPolicySet, [P3])
      assert.deepStrictEqual(
        flags(yield* verify([root], chain, { policy: { requireExplicitPolicy: true, inhibitAnyPolicy: true } })),
        ["GenericError"]
      )
    }))

  it.effect("inhibitAnyPolicy in a CA: anyPolicy below it no longer counts (6.1.4 j)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const top = yield* root.intermediate({ extraExtensions: [policies(ANY), inhibitAnyPolicy(0)] })
      const mid = yield* top.intermediate({ extraExtensions: [policies(ANY)] })
      const leaf = yield* leafOf(mid, [policies(P1)])
      assert.deepStrictEqual(
        flags(yield* verify([root], [leaf, mid.ca, top.ca], { policy: { requireExplicitPolicy: true } })),
        ["GenericError"]
      )
      const open = yield* root.intermediate({ extraExtensions: [policies(ANY)] })
      const mid2 = yield* open.intermediate({ extraExtensions: [policies(ANY)] })
      const leaf2 = yield* leafOf(mid2, [policies(P1)])
      expectValid(yield* verify([root], [leaf2, mid2.ca, open.ca], { policy: { requireExplicitPolicy: true } }))
    }))
})

describe("RFC 5280 6.3: revocation", () => {
  it.effect("revocation: required refuses a certificate no CRL covers; ifAvailable does not", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const ca = yield* root.intermediate()
      const leaf = yield* ca.issue()
      const chain = [leaf, ca.ca]
      expectValid(yield* verify([root], chain))
      const none = yield* verify([root], chain, { revocation: "required" })
      assert.deepStrictEqual(flags(none), ["GenericError"])
      assert.isTrue(none.reasons.some((r) => r.code === "Revocation"))
      // one CRL for the leaf is not enough: the intermediate needs the root's
      const caCrl = yield* ca.crl()
      assert.deepStrictEqual(flags(yield* verify([root], chain, { revocation: "required" }, { crls: [caCrl] })), [
        "GenericError"
      ])
      const rootCrl = yield* root.crl()
      expectValid(yield* verify([root], chain, { revocation: "required" }, { crls: [caCrl, rootCrl] }))
    }))

  it.effect("a CRL past its nextUpdate covers nothing (6.3.3 a)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const stale = yield* root.crl({
        revoked: [leaf],
        thisUpdate: new Date(NOW.getTime() - 10 * DAY),
        nextUpdate: new Date(NOW.getTime() - DAY)
      })
      // the issuer's only CRL is stale: its status is not determined, in either mode
      expectUndetermined(yield* verify([root], [leaf], {}, { crls: [stale] }))
      expectUndetermined(yield* verify([root], [leaf], { revocation: "required" }, { crls: [stale] }))
      const current = yield* root.crl({ revoked: [leaf] })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [current] })), ["Revoked"])
    }))

  it.effect(
    "ifAvailable: a certificate whose issuer's CRLs are given but cannot determine its status fails closed (6.3.3: UNDETERMINED)",
    () =>
      Effect.gen(function*() {
        const root = yield* Pki.make({ now: NOW })
        const ca = yield* root.intermediate()
        const other = yield* root.intermediate()
        const leaf = yield* ca.issue()
        const chain = [leaf, ca.ca]
        const rootCrl = yield* root.crl()
        // no CRL of the leaf's issuer at all: "if available" lets it pass, an unrelated CA's
        // CRLs (even a stale one) change nothing
        expectValid(yield* verify([root], chain, {}, { crls: [rootCrl] }))
        const otherStale = yield* other.crl({
          thisUpdate: new Date(NOW.getTime() - 10 * DAY),
          nextUpdate: new Date(NOW.getTime() - DAY)
        })
        expectValid(yield* verify([root], chain, {}, { crls: [rootCrl, otherStale, yield* other.crl()] }))
        // the issuer's CRL is past its nextUpdate
        const stale = yield* ca.crl({
          thisUpdate: new Date(NOW.getTime() - 10 * DAY),
          nextUpdate: new Date(NOW.getTime() - DAY)
        })
        const undetermined = yield* verify([root], chain, {}, { crls: [stale, rootCrl] })
        expectUndetermined(undetermined)
        assert.deepStrictEqual(undetermined.reasons.map((r) => r.certificate), [0])
        assert.include(undetermined.reasons[0].detail, "is not current")
        assert.include(undetermined.reasons[0].detail, "CRLs given for it")
        // the same for a CA of the path: the root's CRL is stale
        const rootStale = yield* root.crl({
          thisUpdate: new Date(NOW.getTime() - 10 * DAY),
          nextUpdate: new Date(NOW.getTime() - DAY)
        })
        const caUndetermined = yield* verify([root], chain, {}, { crls: [yield* ca.crl(), rootStale] })
        expectUndetermined(caUndetermined)
        assert.deepStrictEqual(caUndetermined.reasons.map((r) => r.certificate), [1])
        // its reasons are not all covered (6.3.3 d, onlySomeReasons)
        const someReasons = yield* ca.crl({ extensions: [idp({ reasons: [1, 2] })] })
        expectUndetermined(yield* verify([root], chain, {}, { crls: [someReasons, rootCrl] }))
        // only a delta CRL (5.2.4: a delta is applied to a complete CRL)
        const delta = yield* ca.crl({ number: 2, extensions: [deltaIndicator(1)] })
        expectUndetermined(yield* verify([root], chain, {}, { crls: [delta, rootCrl] }))
        // a current complete CRL of the issuer makes each of them valid again
        const current = yield* ca.crl()
        for (const crls of [[stale], [someReasons], [delta]]) {
          expectValid(yield* verify([root], chain, {}, { crls: [...crls, current, rootCrl] }))
        }
      })
  )

  it.effect("ifAvailable: CRLs the certificate names, or its issuer's key signed under another name, are its own", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const crlAuthority = yield* root.intermediate({ keyUsage: ["cRLSign"], isCa: false })
      // the leaf names a cRLIssuer whose CRL is not indirect (5.2.5: only an indirect CRL
      // covers another issuer's certificates; PKITS 4.14.27)
      const named = yield* leafOf(root, [cdp({ crlIssuer: [dirName(crlAuthority.ca)] })])
      const direct = yield* crlAuthority.crl()
      expectUndetermined(yield* verify([root], [named], {}, { crls: [direct], intermediates: [crlAuthority.ca] }))
      const indirect = yield* crlAuthority.crl({ extensions: [idp({ indirect: true })] })
      expectValid(yield* verify([root], [named], {}, { crls: [indirect], intermediates: [crlAuthority.ca] }))
      // the leaf's distribution point names a CRL (its IDP) another CA issued, not indirect
      const pointed = yield* leafOf(root, [cdp({ full: [uri("http://crl.example/root.crl")] })])
      const foreign = yield* crlAuthority.crl({ extensions: [idp({ full: [uri("http://crl.example/root.crl")] })] })
      expectUndetermined(yield* verify([root], [pointed], {}, { crls: [foreign], intermediates: [crlAuthority.ca] }))
      // a CRL signed by the issuer's key under another issuer name (authorityKeyIdentifier
      // is the issuer's key: PKITS 4.4.5) is no CRL of the issuer but tells it publishes them
      const leaf = yield* root.issue()
      const renamed = resign(
        (yield* root.crl()).der,
        root.ca.privateKey,
        (fields) => fields.map((f, i) => i === 2 ? crlAuthority.ca.certificate.subject.der : f)
      )
      const result = yield* Verifier.make({ anchors: [root.ca.certificate], crls: [renamed] }).verify(
        [leaf.certificate],
        { purpose: "client", time: NOW, extendedKeyUsage: "any" }
      )
      expectUndetermined(result)
    }))

  it.effect("serial numbers are INTEGERs: 255 (00 FF) is not -1 (FF)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue({ serial: 255n })
      const minusOne = yield* root.crl({ revoked: [{ serial: -1n }] })
      expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls: [minusOne] }))
      const exact = yield* root.crl({ revoked: [255n] })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [exact] })), ["Revoked"])
    }))

  it.effect("a negative serial is accepted (4.1.2.2: users SHOULD handle it gracefully) and revoked as an INTEGER", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      // TestPki issues positive serials only: re-sign an issued TBS with serial -1 (02 01 FF)
      const issued = yield* root.issue({ serial: 1n })
      const leaf = yield* Certificate.fromDer(withSerial(issued.der, root.ca.privateKey, [0xff]))
      // as OpenSSL prints it, never as 255 ("ff") would be
      assert.strictEqual(leaf.serialNumber, "-01")
      expectValid(yield* verify([root], [leaf]))
      // 255 (00 FF) on the CRL is not -1 (FF)
      const twoFiftyFive = yield* root.crl({ revoked: [255n] })
      expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls: [twoFiftyFive] }))
      const minusOne = yield* root.crl({ revoked: [{ serial: -1n }] })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [minusOne] })), ["Revoked"])
    }))

  it.effect("a certificate whose signature BIT STRING has unused bits can be read but never validates", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue({})
      const der = leaf.der.slice()
      const [, , sig] = Der.children(der, Der.readOnly(der, Der.Tag.SEQUENCE))
      der[sig.valueStart] = 1
      const odd = yield* Certificate.fromDer(der)
      const result = yield* verify([root], [odd])
      assert.isTrue(CertificateFlags.has(result.flags, "GenericError"))
      assert.isTrue(result.reasons.some((r) => r.detail === "signature with unused bits"))
    }))

  it.effect("a CRL whose signature BIT STRING has unused bits is unusable: the path it covers fails", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue({})
      const crl = yield* root.crl({})
      const der = crl.der.slice()
      const [, , sig] = Der.children(der, Der.readOnly(der, Der.Tag.SEQUENCE))
      der[sig.valueStart] = 1 // one unused bit (PKITS's Bad Signed CA is encoded so)
      const result = yield* Verifier.make({ anchors: [root.ca.certificate], crls: [der] }).verify([leaf.certificate], {
        purpose: "client",
        time: NOW,
        extendedKeyUsage: "any"
      })
      assert.isTrue(result.reasons.some((r) => r.code === "Revocation" && r.detail.includes("unused bits")))
    }))

  it.effect("distribution points: a CRL counts only when its IDP names the certificate's DP (6.3.3 b 2 i)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* leafOf(root, [cdp({ full: [uri("http://crl.example/a.crl")] })])
      const otherDp = yield* root.crl({
        revoked: [leaf],
        extensions: [idp({ full: [uri("http://crl.example/b.crl")] })]
      })
      // the issuer publishes partitioned CRLs, the one of the leaf's partition is missing
      expectUndetermined(yield* verify([root], [leaf], {}, { crls: [otherDp] }))
      expectUndetermined(yield* verify([root], [leaf], { revocation: "required" }, { crls: [otherDp] }))
      const sameDp = yield* root.crl({
        revoked: [leaf],
        extensions: [idp({ full: [uri("http://crl.example/a.crl")] })]
      })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [sameDp] })), ["Revoked"])
      // a certificate without cRLDistributionPoints is not in a partitioned CRL's scope
      // (not revoked by it, but not determined either)
      const plain = yield* root.issue()
      expectUndetermined(
        yield* verify([root], [plain], {}, {
          crls: [yield* root.crl({ revoked: [plain], extensions: [idp({ full: [uri("http://crl.example/a.crl")] })] })]
        })
      )
    }))

  it.effect("onlyContainsUserCerts / onlyContainsCACerts (6.3.3 b 2 ii, iii)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const ca = yield* root.intermediate()
      const leaf = yield* ca.issue()
      const chain = [leaf, ca.ca]
      const caOnly = yield* ca.crl({ revoked: [leaf], extensions: [idp({ onlyCa: true })] })
      const rootCrl = yield* root.crl()
      // the CA-only CRL does not revoke the leaf, nor does it say the leaf is not revoked
      expectUndetermined(yield* verify([root], chain, {}, { crls: [caOnly, rootCrl] }))
      const caComplete = yield* ca.crl()
      expectValid(yield* verify([root], chain, {}, { crls: [caOnly, caComplete, rootCrl] }))
      const userOnly = yield* ca.crl({ revoked: [leaf], extensions: [idp({ onlyUser: true })] })
      assert.deepStrictEqual(flags(yield* verify([root], chain, {}, { crls: [userOnly, rootCrl] })), ["Revoked"])
      // the root's user-only CRL does not cover the intermediate CA
      const rootUserOnly = yield* root.crl({ revoked: [ca.ca], extensions: [idp({ onlyUser: true })] })
      const userOnlyOk = yield* ca.crl({ extensions: [idp({ onlyUser: true })] })
      expectUndetermined(yield* verify([root], chain, {}, { crls: [userOnlyOk, rootUserOnly] }))
      const rootCaOnly = yield* root.crl({ revoked: [ca.ca], extensions: [idp({ onlyCa: true })] })
      assert.deepStrictEqual(flags(yield* verify([root], chain, {}, { crls: [userOnlyOk, rootCaOnly] })), ["Revoked"])
    }))

  it.effect("onlySomeReasons: every reason must be covered before a certificate counts as not revoked (6.3.3 d)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const keyCompromise = yield* root.crl({ extensions: [idp({ reasons: [1] })] })
      assert.deepStrictEqual(
        flags(yield* verify([root], [leaf], { revocation: "required" }, { crls: [keyCompromise] })),
        [
          "GenericError"
        ]
      )
      const others = yield* root.crl({ extensions: [idp({ reasons: [2, 3, 4, 5, 6, 7, 8] })] })
      expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls: [keyCompromise, others] }))
    }))

  it.effect("indirect CRLs: cRLIssuer in the DP, indirectCRL in the IDP, certificateIssuer in the entry (5.3.3)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const ca = yield* root.intermediate()
      const crlAuthority = yield* root.intermediate({ keyUsage: ["cRLSign"], isCa: false })
      const covered = yield* leafOf(ca, [cdp({ crlIssuer: [dirName(crlAuthority.ca)] })])
      const indirect = yield* crlAuthority.crl({
        revoked: [{ serial: covered, extensions: [certificateIssuer(ca.ca)] }],
        extensions: [idp({ indirect: true })]
      })
      const rootCrl = yield* root.crl()
      assert.deepStrictEqual(
        flags(
          yield* verify([root], [covered, ca.ca], {}, { crls: [indirect, rootCrl], intermediates: [crlAuthority.ca] })
        ),
        ["Revoked"]
      )
      // without cRLIssuer in its DP, the certificate is not in the indirect CRL's scope
      const uncovered = yield* ca.issue()
      const other = yield* crlAuthority.crl({
        revoked: [{ serial: uncovered, extensions: [certificateIssuer(ca.ca)] }],
        extensions: [idp({ indirect: true })]
      })
      // (an indirect CRL naming its issuer was given: its status is not determined)
      expectUndetermined(
        yield* verify([root], [uncovered, ca.ca], {}, { crls: [other, rootCrl], intermediates: [crlAuthority.ca] })
      )
    }))

  it.effect("delta CRLs add to, and removeFromCRL takes from, the complete CRL (5.2.4)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const base = yield* root.crl({ number: 1 })
      const delta = yield* root.crl({ number: 2, revoked: [leaf], extensions: [deltaIndicator(1)] })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [base, delta] })), ["Revoked"])
      // a delta CRL alone is no complete CRL
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], { revocation: "required" }, { crls: [delta] })), [
        "GenericError"
      ])
      const held = yield* root.crl({ number: 3, revoked: [{ serial: leaf, extensions: [reasonCode(6)] }] })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [held] })), ["Revoked"])
      const released = yield* root.crl({
        number: 4,
        revoked: [{ serial: leaf, extensions: [reasonCode(8)] }],
        extensions: [deltaIndicator(3)]
      })
      expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls: [held, released] }))
    }))

  it.effect("a separate CRL-signing certificate, or the CA's rolled-over key, is found and verified by its own path", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const caName: ReadonlyArray<TestPki.NameAttribute> = [["O", "effect-tls testkit"], ["CN", "Issuing CA"]]
      const ca = yield* root.intermediate({ subjectAttributes: caName })
      const leaf = yield* ca.issue()
      const rootCrl = yield* root.crl()
      // a certificate with the CA's name and another key, for CRL signing only
      const signer = yield* root.intermediate({ subjectAttributes: caName, isCa: false, keyUsage: ["cRLSign"] })
      const bySigner = yield* signer.crl({ revoked: [leaf] })
      assert.deepStrictEqual(
        flags(yield* verify([root], [leaf, ca.ca], {}, { crls: [bySigner, rootCrl], intermediates: [signer.ca] })),
        ["Revoked"]
      )
      // the CA's new key after a rollover
      const rolled = yield* root.intermediate({ subjectAttributes: caName })
      const byNewKey = yield* rolled.crl({ revoked: [leaf] })
      assert.deepStrictEqual(
        flags(yield* verify([root], [leaf, ca.ca], {}, { crls: [byNewKey, rootCrl], intermediates: [rolled.ca] })),
        ["Revoked"]
      )
      // a self-issued CRL-signing certificate, issued by the CA itself
      const selfIssued = yield* ca.intermediate({ subjectAttributes: caName, isCa: false, keyUsage: ["cRLSign"] })
      const bySelfIssued = yield* selfIssued.crl({ revoked: [leaf] })
      assert.deepStrictEqual(
        flags(
          yield* verify([root], [leaf, ca.ca], {}, { crls: [bySelfIssued, rootCrl], intermediates: [selfIssued.ca] })
        ),
        ["Revoked"]
      )
      const notRevoked = yield* ca.issue()
      expectValid(
        yield* verify([root], [notRevoked, ca.ca], { revocation: "required" }, {
          crls: [bySelfIssued, rootCrl],
          intermediates: [selfIssued.ca]
        })
      )
      // a signer with the right name whose path leads to another anchor signs nothing
      const elsewhere = yield* Pki.make({ now: NOW, subjectAttributes: caName })
      const forged = yield* elsewhere.crl({ revoked: [leaf] })
      const result = yield* verify([root], [leaf, ca.ca], {}, { crls: [forged, rootCrl] })
      assert.deepStrictEqual(flags(result), ["GenericError"])
      assert.isTrue(result.reasons.some((r) => r.code === "Revocation"))
      // ... but a good CRL beside it still covers the certificate
      const good = yield* ca.crl()
      expectValid(yield* verify([root], [leaf, ca.ca], { revocation: "required" }, { crls: [forged, good, rootCrl] }))
    }))
})

describe("RFC 5280 7.1 and 4.2.1.10: names", () => {
  it.effect("issuer names chain after RFC 4518 preparation (case, spaces, PrintableString vs UTF8String)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({
        now: NOW,
        subjectAttributes: [["C", "NZ", "printable"], ["CN", "Test Root CA", "printable"]]
      })
      const leaf = yield* root.issue({
        issuerAttributes: [["C", "nz", "utf8"], ["CN", "  test   ROOT ca ", "utf8"]]
      })
      expectValid(yield* verify([root], [leaf]))
      const stranger = yield* root.issue({ issuerAttributes: [["C", "NZ"], ["CN", "Test Root CB"]] })
      assert.deepStrictEqual(flags(yield* verify([root], [stranger])), ["UnknownCa"])
    }))

  it.effect("rfc822 constraints apply to the subject's emailAddress when there is no SAN", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const ca = yield* root.intermediate({
        extraExtensions: [nameConstraints([Der.encode(0x81, utf8("example.com"))])]
      })
      const inside = yield* ca.issue({ subjectAttributes: [["CN", "alice"], ["emailAddress", "alice@example.com"]] })
      expectValid(yield* verify([root], [inside, ca.ca]))
      const outside = yield* ca.issue({ subjectAttributes: [["CN", "mallory"], ["emailAddress", "mallory@evil.test"]] })
      assert.deepStrictEqual(flags(yield* verify([root], [outside, ca.ca])), ["GenericError"])
    }))

  it.effect("URI constraints are evaluated on the URI's host", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const ca = yield* root.intermediate({
        extraExtensions: [nameConstraints([uri(".example.com")], [uri("forbidden.example.com")])]
      })
      const ok = yield* leafOf(ca, [san(uri("https://www.example.com/path"))])
      expectValid(yield* verify([root], [ok, ca.ca]))
      const outside = yield* leafOf(ca, [san(uri("https://evil.test/"))])
      assert.deepStrictEqual(flags(yield* verify([root], [outside, ca.ca])), ["GenericError"])
      const excluded = yield* leafOf(ca, [san(uri("https://forbidden.example.com/"))])
      assert.deepStrictEqual(flags(yield* verify([root], [excluded, ca.ca])), ["GenericError"])
      const hostless = yield* leafOf(ca, [san(uri("urn:example:thing"))])
      assert.deepStrictEqual(flags(yield* verify([root], [hostless, ca.ca])), ["GenericError"])
    }))
})

describe("RFC 6125 identity", () => {
  it.effect("the CN is not consulted when a SAN exists: an IP or another name there is no reason to refuse", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      for (const commonName of ["127.0.0.2", "other.example.net", "::1"]) {
        const leaf = yield* root.issueServer({ commonName, dnsNames: ["localhost"] })
        expectValid(yield* verify([root], [leaf], { purpose: "server", identity: "localhost" }))
        assert.deepStrictEqual(flags(yield* verify([root], [leaf], { purpose: "server", identity: commonName })), [
          "BadIdentity"
        ])
      }
    }))

  it.effect("no wildcard over a public suffix of the Public Suffix List (ICANN and private sections)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const cases: ReadonlyArray<readonly [string, string, boolean]> = [
        ["*.co.uk", "shop.co.uk", false],
        ["*.s3.amazonaws.com", "bucket.s3.amazonaws.com", false],
        ["*.github.io", "someone.github.io", false],
        ["*.example.co.uk", "www.example.co.uk", true],
        ["*.example.com", "www.example.com", true]
      ]
      for (const [name, host, valid] of cases) {
        const leaf = yield* root.issueServer({ dnsNames: [name] })
        assert.deepStrictEqual(
          flags(yield* verify([root], [leaf], { purpose: "server", identity: host })),
          valid ? [] : ["BadIdentity"],
          name
        )
      }
    }))

  it.effect("an RFC 822 identity: rfc822Name SAN (domain case-insensitive), or the subject's emailAddress", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* leafOf(root, [san(Der.encode(0x81, utf8("alice@example.com")))])
      expectValid(yield* verify([root], [leaf], { email: "alice@EXAMPLE.com" }))
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], { email: "Alice@example.com" })), ["BadIdentity"])
      const subjectOnly = yield* root.issue({ subjectAttributes: [["CN", "bob"], ["emailAddress", "bob@example.com"]] })
      expectValid(yield* verify([root], [subjectOnly], { email: "bob@example.com" }))
      assert.deepStrictEqual(flags(yield* verify([root], [subjectOnly], { email: "carol@example.com" })), [
        "BadIdentity"
      ])
    }))
})

describe("what callers can require", () => {
  it.effect("keyUsage: the leaf must assert every bit asked for", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue({ keyUsage: ["digitalSignature"] })
      expectValid(yield* verify([root], [leaf], { keyUsage: ["digitalSignature"] }))
      const result = yield* verify([root], [leaf], { keyUsage: ["keyEncipherment"] })
      assert.deepStrictEqual(flags(result), ["GenericError"])
      assert.isTrue(result.reasons.some((r) => r.code === "KeyUsage"))
    }))

  it.effect("extendedKeyUsage: any OID, or any purpose; CAs that restrict EKUs restrict the path", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const codeSigning = "1.3.6.1.5.5.7.3.3"
      const leaf = yield* root.issue({ extendedKeyUsage: ["codeSigning"] })
      expectValid(yield* verify([root], [leaf], { extendedKeyUsage: [codeSigning] }))
      expectValid(yield* verify([root], [leaf], { extendedKeyUsage: "any" }))
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], { purpose: "server", extendedKeyUsage: undefined })), [
        "GenericError"
      ])
      const serverOnly = yield* root.intermediate({ extendedKeyUsage: ["serverAuth"] })
      const below = yield* serverOnly.issue({ extendedKeyUsage: ["codeSigning"] })
      assert.deepStrictEqual(
        flags(yield* verify([root], [below, serverOnly.ca], { extendedKeyUsage: [codeSigning] })),
        [
          "GenericError"
        ]
      )
    }))

  it.effect("a DSA signature is checked (x509's Dsa.test.ts): one under an ECDSA key is no signature of it", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue({ signatureHash: "sha1" })
      // ecdsa-with-SHA1 (2a 86 48 ce 3d 04 01) → dsa-with-sha1 (2a 86 48 ce 38 04 03): same length
      const hex = Der.toHex(leaf.der).replaceAll("2a8648ce3d0401", "2a8648ce380403")
      const der = Uint8Array.from(hex.match(/../g)!.map((b) => parseInt(b, 16)))
      const dsa = yield* Certificate.fromDer(der)
      assert.strictEqual(dsa.signatureAlgorithm, "dsa-with-SHA1")
      const result = yield* verify([root], [dsa])
      assert.isTrue(CertificateFlags.has(result.flags, "UnknownCa"))
      assert.isUndefined(result.reasons.find((r) => r.code === "UnsupportedAlgorithm"))
    }))
})

describe("RFC 5280 audit: serial numbers, CRL rules on every path, unreadable CRLs, weak DSA", () => {
  it.effect("a CRL given that cannot be read is never ignored: every verification fails, Crl.readAll says why", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const good = yield* root.crl()
      const garbage = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01)
      expectValid(yield* verify([root], [leaf], {}, { crls: [good] }))
      const result = yield* Verifier.make({ anchors: [root.ca.certificate], crls: [good.der, garbage] }).verify(
        [leaf.certificate],
        { purpose: "client", time: NOW, extendedKeyUsage: "any" }
      )
      assert.deepStrictEqual(flags(result), ["GenericError"])
      assert.isTrue(result.reasons.some((r) => r.code === "Revocation" && r.detail.startsWith("CRL 1 is not a CRL")))
      const partitioned = Crl.partition([good.der, garbage])
      assert.strictEqual(partitioned.readable.length, 1)
      assert.deepStrictEqual(partitioned.unreadable.map((u) => u.index), [1])
      const error = yield* Effect.flip(Crl.readAll([good.der, garbage]))
      assert.strictEqual(error.reason, "InvalidDer")
      assert.strictEqual((yield* Crl.readAll([good.der])).length, 1)
    }))

  it.effect("serial numbers (4.1.2.2): zero is refused below the anchor, in every position; an anchor's is not", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const zeroLeaf = yield* Certificate.fromDer(withSerial(leaf.der, root.ca.privateKey, [0]))
      assert.strictEqual(zeroLeaf.serialNumber, "00")
      const leafResult = yield* verify([root], [zeroLeaf])
      assert.deepStrictEqual(flags(leafResult), ["GenericError"])
      assert.isTrue(leafResult.reasons.some((r) => r.detail === "zero serial number" && r.certificate === 0))
      // an intermediate
      const ca = yield* root.intermediate()
      const below = yield* ca.issue()
      const zeroCa = yield* Certificate.fromDer(withSerial(ca.ca.der, root.ca.privateKey, [0]))
      const caResult = yield* verify([root], [below, zeroCa])
      assert.deepStrictEqual(flags(caResult), ["GenericError"])
      assert.isTrue(caResult.reasons.some((r) => r.detail === "zero serial number" && r.certificate === 1))
      // a separate CRL signer with a zero serial signs no usable CRL
      const signerName: ReadonlyArray<TestPki.NameAttribute> = [["CN", "Zero Signer"]]
      const signer = yield* root.intermediate({ subjectAttributes: signerName, isCa: false, keyUsage: ["cRLSign"] })
      const zeroSigner = yield* Certificate.fromDer(withSerial(signer.ca.der, root.ca.privateKey, [0]))
      const covered = yield* leafOf(root, [cdp({ crlIssuer: [dirName(signer.ca)] })])
      const indirect = yield* signer.crl({ extensions: [idp({ indirect: true })] })
      const signerResult = yield* Verifier.make({
        anchors: [root.ca.certificate],
        intermediates: [zeroSigner],
        crls: [indirect.der]
      }).verify([covered.certificate], { purpose: "client", time: NOW, extendedKeyUsage: "any" })
      assert.deepStrictEqual(flags(signerResult), ["GenericError"])
      assert.isTrue(signerResult.reasons.some((r) => r.code === "Revocation"))
      // the same CRL signer with its real serial is fine
      expectValid(
        yield* Verifier.make({
          anchors: [root.ca.certificate],
          intermediates: [signer.ca.certificate],
          crls: [indirect.der]
        })
          .verify([covered.certificate], { purpose: "client", time: NOW, extendedKeyUsage: "any" })
      )
      // a trust anchor with a zero serial is trusted as configured
      const zeroRoot = yield* Certificate.fromDer(withSerial(root.ca.der, root.ca.privateKey, [0]))
      const anchored = yield* Verifier.make({ anchors: [zeroRoot] }).verify([leaf.certificate], {
        purpose: "client",
        time: NOW,
        extendedKeyUsage: "any"
      })
      assert.deepStrictEqual(flags(anchored), [])
    }))

  it.effect("serial numbers: users MUST handle 20 octets (with a sign octet, 21 encoded); 21 value octets fail", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const twenty = yield* root.issue({ serial: (1n << 159n) | 5n })
      assert.strictEqual(twenty.certificate.serialNumber.length, 40)
      expectValid(yield* verify([root], [twenty]))
      const revoked = yield* root.crl({ revoked: [twenty] })
      assert.deepStrictEqual(flags(yield* verify([root], [twenty], {}, { crls: [revoked] })), ["Revoked"])
      const tooLong = yield* root.issue({ serial: 1n << 160n })
      const result = yield* verify([root], [tooLong])
      assert.deepStrictEqual(flags(result), ["GenericError"])
      assert.isTrue(result.reasons.some((r) => r.detail === "serial number longer than 20 octets"))
    }))

  it.effect("no CRLNumber (5.2.3) or a non-critical issuingDistributionPoint (5.2.5): unusable, direct or indirect", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const unusable = (result: Verifier.VerifyResult, what: string) => {
        assert.deepStrictEqual(flags(result), ["GenericError"], what)
        assert.isTrue(result.reasons.some((r) => r.code === "Revocation" && r.detail.includes(what)), what)
      }
      const numberless = crlWithout(yield* root.crl(), root.ca.privateKey, "2.5.29.20")
      unusable(yield* verifyDer([root], [leaf], [numberless]), "CRL without CRLNumber")
      const nonCriticalIdp = yield* root.crl({ extensions: [{ ...idp({ onlyUser: true }), critical: false }] })
      unusable(yield* verify([root], [leaf], {}, { crls: [nonCriticalIdp] }), "non-critical issuingDistributionPoint")
      // the same rules for an indirect CRL
      const crlAuthority = yield* root.intermediate({ keyUsage: ["cRLSign"], isCa: false })
      const covered = yield* leafOf(root, [cdp({ crlIssuer: [dirName(crlAuthority.ca)] })])
      const indirect = (critical: boolean, number: boolean) =>
        Effect.map(
          crlAuthority.crl({ extensions: [{ ...idp({ indirect: true }), critical }] }),
          (crl) => number ? crl.der : crlWithout(crl, crlAuthority.ca.privateKey, "2.5.29.20")
        )
      const withSigner = (crls: ReadonlyArray<Uint8Array>) =>
        Verifier.make({ anchors: [root.ca.certificate], intermediates: [crlAuthority.ca.certificate], crls }).verify(
          [covered.certificate],
          { purpose: "client", time: NOW, extendedKeyUsage: "any" }
        )
      expectValid(yield* withSigner([yield* indirect(true, true)]))
      unusable(yield* withSigner([yield* indirect(false, true)]), "non-critical issuingDistributionPoint")
      unusable(yield* withSigner([yield* indirect(true, false)]), "CRL without CRLNumber")
    }))

  it.effect("the same rules for a delta CRL (5.2.4): one that cannot be used fails closed, never silently skipped", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const base = yield* root.crl({ number: 1 })
      const delta = yield* root.crl({ number: 2, revoked: [leaf], extensions: [deltaIndicator(1)] })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [base, delta] })), ["Revoked"])
      // a delta without CRLNumber revoking the leaf: not a reason to call it good
      const numberless = crlWithout(delta, root.ca.privateKey, "2.5.29.20")
      const result = yield* verifyDer([root], [leaf], [base.der, numberless])
      assert.deepStrictEqual(flags(result), ["GenericError"])
      assert.isTrue(result.reasons.some((r) => r.detail.includes("delta CRL") && r.detail.includes("CRLNumber")))
      // a delta with a non-critical IDP over a partitioned base
      const userBase = yield* root.crl({ number: 3, extensions: [idp({ onlyUser: true })] })
      const userDelta = yield* root.crl({
        number: 4,
        revoked: [leaf],
        extensions: [deltaIndicator(3), { ...idp({ onlyUser: true }), critical: false }]
      })
      const partitioned = yield* verify([root], [leaf], {}, { crls: [userBase, userDelta] })
      assert.deepStrictEqual(flags(partitioned), ["GenericError"])
      assert.isTrue(partitioned.reasons.some((r) => r.detail.includes("non-critical issuingDistributionPoint")))
      // a delta signed by another key with the CA's name
      const impostor = yield* Pki.make({ now: NOW, subjectAttributes: [["O", "effect-tls testkit"], ["CN", "Root"]] })
      const forged = yield* impostor.crl({ number: 2, revoked: [leaf], extensions: [deltaIndicator(1)] })
      if (impostor.ca.certificate.subject.text === root.ca.certificate.subject.text) {
        assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [base, forged] })), ["GenericError"])
      }
    }))

  it.effect("the newest CRL and delta decide a certificateHold; a revocation for good stays (5.3.1)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const leaf = yield* root.issue()
      const hold = { serial: leaf, extensions: [reasonCode(6)] }
      const held = yield* root.crl({ number: 1, revoked: [hold] })
      const released = yield* root.crl({ number: 2 })
      for (const crls of [[held, released], [released, held]]) {
        expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls }))
      }
      const base = yield* root.crl({ number: 3 })
      const heldDelta = yield* root.crl({ number: 4, revoked: [hold], extensions: [deltaIndicator(3)] })
      const releasedDelta = yield* root.crl({
        number: 5,
        revoked: [{ serial: leaf, extensions: [reasonCode(8)] }],
        extensions: [deltaIndicator(3)]
      })
      for (const crls of [[base, heldDelta, releasedDelta], [base, releasedDelta, heldDelta]]) {
        expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls }))
      }
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [base, heldDelta] })), ["Revoked"])
      // a revocation for good (keyCompromise) stays: an older current CRL listing it revokes
      const compromised = yield* root.crl({ number: 7, revoked: [{ serial: leaf, extensions: [reasonCode(1)] }] })
      const later = yield* root.crl({ number: 8 })
      for (const crls of [[later, compromised], [compromised, later]]) {
        assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls })), ["Revoked"])
      }
      // a delta no newer than the complete CRL is already in it
      const newerBase = yield* root.crl({ number: 6 })
      expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls: [newerBase, heldDelta] }))
    }))

  it.effect("a CRL signed with SHA-1 makes its answer Insecure, as a SHA-1 certificate signature does", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const sha1Leaf = yield* root.issue({ signatureHash: "sha1" })
      assert.deepStrictEqual(flags(yield* verify([root], [sha1Leaf])), ["Insecure"])
      const leaf = yield* root.issue()
      const sha1Crl = yield* root.crl({ signatureHash: "sha1" })
      const result = yield* verify([root], [leaf], { revocation: "required" }, { crls: [sha1Crl] })
      assert.deepStrictEqual(flags(result), ["Insecure"])
      assert.deepStrictEqual(result.reasons.map((r) => [r.detail, r.certificate]), [["weak CRL signature", 0]])
      const revoking = yield* root.crl({ signatureHash: "sha1", revoked: [leaf] })
      assert.deepStrictEqual(flags(yield* verify([root], [leaf], {}, { crls: [revoking] })), ["Revoked", "Insecure"])
      expectValid(yield* verify([root], [leaf], { revocation: "required" }, { crls: [yield* root.crl()] }))
    }))

  it.effect("path building: in a lattice of cross-signed alternatives the valid path is found, wrong turns first", () =>
    Effect.gen(function*() {
      // root → CA1 → ... → CA6 → leaf, and beside each CAk a copy with the same name and key,
      // issued by the same CA but expired (or signed with SHA-1): 2^6 paths, one of them valid,
      // the wrong copies given first
      const root = yield* Pki.make({ now: NOW })
      const levels: Array<TestPki.Authority> = []
      let issuer = root
      for (let k = 0; k < 6; k++) {
        issuer = yield* issuer.intermediate()
        levels.push(issuer)
      }
      const leaf = yield* issuer.issue()
      const utc = (d: Date) => Der.encode(Der.Tag.UTCTime, utf8(d.toISOString().replace(/[-:T]|\.\d+/g, "").slice(2)))
      const expiredValidity = seq(utc(new Date(NOW.getTime() - 100 * DAY)), utc(new Date(NOW.getTime() - DAY)))
      for (const wrong of ["expired", "sha1"] as const) {
        const pool: Array<Certificate.Certificate> = []
        for (let k = levels.length - 1; k >= 0; k--) {
          const signer = k === 0 ? root.ca : levels[k - 1].ca
          const copy = resign(
            levels[k].ca.der,
            signer.privateKey,
            (fields) => wrong === "expired" ? fields.map((f, i) => i === 4 ? expiredValidity : f) : fields,
            wrong === "sha1"
          )
          pool.push(yield* Certificate.fromDer(copy), levels[k].ca.certificate)
        }
        const result = yield* verify([root], [leaf.certificate, ...pool])
        expectValid(result)
        assert.strictEqual(result.path?.length, 8, wrong)
      }
    }))

  it.effect("a CRL signer's own path is validated with revocation too (6.3.3 f): required means covered", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const caName: ReadonlyArray<TestPki.NameAttribute> = [["O", "effect-tls testkit"], ["CN", "Audited CA"]]
      const ca = yield* root.intermediate({ subjectAttributes: caName })
      const leaf = yield* ca.issue()
      // the CRL signer hangs below another intermediate, whose CRL alone covers it
      const signerIssuer = yield* root.intermediate()
      const signer = yield* signerIssuer.intermediate({ subjectAttributes: caName, isCa: false, keyUsage: ["cRLSign"] })
      const bySigner = yield* signer.crl()
      const rootCrl = yield* root.crl()
      const check = (crls: ReadonlyArray<TestPki.Crl>) =>
        verify([root], [leaf, ca.ca], { revocation: "required" }, { crls, intermediates: [signer.ca, signerIssuer.ca] })
      const uncovered = yield* check([bySigner, rootCrl])
      assert.deepStrictEqual(flags(uncovered), ["GenericError"])
      assert.isTrue(uncovered.reasons.some((r) => r.code === "Revocation" && r.certificate === 0))
      expectValid(yield* check([bySigner, rootCrl, yield* signerIssuer.crl()]))
      // the signer revoked by its issuer signs nothing usable
      const revokedSigner = yield* signerIssuer.crl({ revoked: [signer.ca] })
      assert.deepStrictEqual(flags(yield* check([bySigner, rootCrl, revokedSigner])), ["GenericError"])
    }))

  it.effect("DSA keys under 2048 bits are Insecure wherever RSA ones are (leaf, intermediate)", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const dsa = NodeCrypto.generateKeyPairSync("dsa", { modulusLength: 1024, divisorLength: 160 })
      const spki = new Uint8Array(dsa.publicKey.export({ type: "spki", format: "der" }))
      // the SubjectPublicKeyInfo is TBS field 6 (version, serial, signature, issuer, validity, subject)
      const withKey = (der: Uint8Array) => resign(der, root.ca.privateKey, (f) => f.map((x, i) => i === 6 ? spki : x))
      const dsaLeaf = yield* Certificate.fromDer(withKey((yield* root.issue()).der))
      assert.deepStrictEqual(dsaLeaf.publicKey, { algorithm: "DSA", size: 1024 })
      const rsaLeaf = yield* root.issue({ keyType: "rsa-1024" })
      for (const leaf of [dsaLeaf, rsaLeaf.certificate]) {
        const result = yield* verify([root], [leaf])
        assert.deepStrictEqual(flags(result), ["Insecure"], leaf.publicKey.algorithm)
        assert.isTrue(result.reasons.every((r) => r.code === "Weak" && r.certificate === 0))
      }
      const rsaCa = yield* root.intermediate({ keyType: "rsa-1024" })
      const rsaBelow = yield* rsaCa.issue()
      const rsaResult = yield* verify([root], [rsaBelow, rsaCa.ca])
      assert.deepStrictEqual(flags(rsaResult), ["Insecure"])
      assert.deepStrictEqual(rsaResult.reasons.map((r) => r.certificate), [1])
    }))
})
