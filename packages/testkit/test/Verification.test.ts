/**
 * The issue-3 verification matrix: every case asserts the EXACT flag set that
 * `TlsDatabase.verifyChain` reports for chains made by the test PKI. Time is controlled:
 * the PKI is dated from a fixed instant and the verification time is either passed
 * explicitly or set on the TestClock.
 */
import type * as Certificate from "@effect-tls/core/Certificate"
import * as CertificateFlags from "@effect-tls/core/CertificateFlags"
import * as TlsDatabase from "@effect-tls/core/TlsDatabase"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"

const NOW = new Date("2030-01-15T12:00:00Z")
const DAY = 86_400_000

const flagsOf = (
  database: TlsDatabase.TlsDatabaseShape,
  chain: Certificate.CertificateChain,
  options: Partial<TlsDatabase.VerifyOptions> = {}
) =>
  Effect.map(
    database.verifyChain(chain, { purpose: "server", identity: "localhost", time: NOW, ...options }),
    CertificateFlags.toArray
  )

const expectFlags = (
  database: TlsDatabase.TlsDatabaseShape,
  chain: Certificate.CertificateChain,
  expected: ReadonlyArray<CertificateFlags.CertificateFlag>,
  options: Partial<TlsDatabase.VerifyOptions> = {}
) =>
  Effect.map(flagsOf(database, chain, options), (flags) => {
    assert.deepStrictEqual(flags, [...expected])
  })

describe("Verification matrix (TestPki + TlsDatabase.verifyChain)", () => {
  it.effect("trusted: a chain to the anchor verifies with no flag", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const server = yield* pki.issueServer()
      yield* expectFlags(pki.database, server.chain, [])
      // a longer chain through an intermediate
      const intermediate = yield* pki.intermediate()
      const leaf = yield* intermediate.issueServer()
      yield* expectFlags(pki.database, leaf.chain, [])
      // without an identity, no identity check
      yield* expectFlags(pki.database, server.chain, [], { identity: undefined })
    }))

  it.effect("unknown CA: a chain from another PKI", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const other = yield* TestPki.make({ now: NOW })
      const server = yield* other.issueServer()
      yield* expectFlags(pki.database, server.chain, ["UnknownCa"])
      // even when the foreign root is sent along
      yield* expectFlags(pki.database, [...server.chain, other.ca.certificate], ["UnknownCa"])
    }))

  it.effect("self-signed leaf", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const self = yield* pki.issueServer({ selfSigned: true })
      yield* expectFlags(pki.database, self.chain, ["UnknownCa"])
    }))

  it.effect("expired leaf", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const expired = yield* pki.issueServer({ validity: "expired" })
      yield* expectFlags(pki.database, expired.chain, ["Expired"])
    }))

  it.effect("not yet valid leaf", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const future = yield* pki.issueServer({ validity: "notYetValid" })
      yield* expectFlags(pki.database, future.chain, ["NotActivated"])
    }))

  it.effect("expired intermediate", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const intermediate = yield* pki.intermediate({ validity: "expired" })
      const leaf = yield* intermediate.issueServer({ now: NOW })
      yield* expectFlags(pki.database, leaf.chain, ["Expired"])
    }))

  it.effect("time from the Clock (TestClock) when none is given", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const server = yield* pki.issueServer()
      yield* TestClock.setTime(NOW.getTime())
      yield* expectFlags(pki.database, server.chain, [], { time: undefined })
      // leaves are valid from one hour before `now`
      yield* TestClock.setTime(NOW.getTime() - 2 * 3_600_000)
      yield* expectFlags(pki.database, server.chain, ["NotActivated"], { time: undefined })
      // and for 90 days
      yield* TestClock.setTime(NOW.getTime() + 91 * DAY)
      yield* expectFlags(pki.database, server.chain, ["Expired"], { time: undefined })
    }))

  it.effect("wrong host", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const server = yield* pki.issueServer({ dnsNames: ["localhost"] })
      yield* expectFlags(pki.database, server.chain, ["BadIdentity"], { identity: "example.org" })
      // no fallback to the subject CN
      const cnOnly = yield* pki.issueServer({ commonName: "cn.example", dnsNames: ["other.example"] })
      yield* expectFlags(pki.database, cnOnly.chain, ["BadIdentity"], { identity: "cn.example" })
      // host names compare case-insensitively
      yield* expectFlags(pki.database, server.chain, [], { identity: "LOCALHOST" })
    }))

  it.effect("IP SAN match and mismatch", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const server = yield* pki.issueServer({ dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"] })
      yield* expectFlags(pki.database, server.chain, [], { identity: "127.0.0.1" })
      yield* expectFlags(pki.database, server.chain, [], { identity: "::1" })
      yield* expectFlags(pki.database, server.chain, ["BadIdentity"], { identity: "127.0.0.2" })
      yield* expectFlags(pki.database, server.chain, ["BadIdentity"], { identity: "::2" })
      // an IP address is never matched against DNS names; and a dNSName holding an IP
      // address is itself malformed for this verifier (GenericError)
      const dnsOnly = yield* pki.issueServer({ dnsNames: ["127.0.0.1"], ipAddresses: [] })
      yield* expectFlags(pki.database, dnsOnly.chain, ["BadIdentity", "GenericError"], { identity: "127.0.0.1" })
      // an IP SAN alone does not match a host name
      const ipOnly = yield* pki.issueServer({ ipAddresses: ["127.0.0.1"] })
      yield* expectFlags(pki.database, ipOnly.chain, ["BadIdentity"], { identity: "localhost" })
      yield* expectFlags(pki.database, ipOnly.chain, [], { identity: "127.0.0.1" })
    }))

  it.effect("wildcard rules: left-most label only, exactly one label", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const server = yield* pki.issueServer({ dnsNames: ["*.example.com"] })
      yield* expectFlags(pki.database, server.chain, [], { identity: "a.example.com" })
      yield* expectFlags(pki.database, server.chain, ["BadIdentity"], { identity: "example.com" })
      yield* expectFlags(pki.database, server.chain, ["BadIdentity"], { identity: "a.b.example.com" })
      yield* expectFlags(pki.database, server.chain, ["BadIdentity"], { identity: "a.example.org" })
    }))

  it.effect("missing intermediate supplied by the database", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const intermediate = yield* pki.intermediate()
      const leaf = yield* intermediate.issueServer()
      const alone = [leaf.certificate]
      yield* expectFlags(pki.database, alone, ["UnknownCa"])
      const withIntermediate = TlsDatabase.fromAnchors([pki.root.certificate], {
        intermediates: [intermediate.ca.certificate]
      })
      yield* expectFlags(withIntermediate, alone, [])
      yield* expectFlags(pki.databaseWith({ intermediates: [intermediate.ca] }), alone, [])
      // unordered and superfluous certificates are tolerated
      const stranger = yield* (yield* TestPki.make({ now: NOW })).issueServer()
      yield* expectFlags(pki.database, [leaf.certificate, stranger.certificate, intermediate.ca.certificate], [])
    }))

  it.effect("path length exceeded", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW, pathLength: 0 })
      const intermediate = yield* pki.intermediate()
      const leaf = yield* intermediate.issueServer()
      yield* expectFlags(pki.database, leaf.chain, ["GenericError"])
      // pathLength 0 on an intermediate: it may issue leaves, not further CAs
      const root = yield* TestPki.make({ now: NOW })
      const zero = yield* root.intermediate({ pathLength: 0 })
      yield* expectFlags(root.database, (yield* zero.issueServer()).chain, [])
      const below = yield* zero.intermediate()
      yield* expectFlags(root.database, (yield* below.issueServer()).chain, ["GenericError"])
    }))

  it.effect("CA:false issuer", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const notCa = yield* pki.intermediate({ isCa: false })
      const leaf = yield* notCa.issueServer()
      yield* expectFlags(pki.database, leaf.chain, ["GenericError"])
      const noConstraints = yield* pki.intermediate({ isCa: "omit" })
      yield* expectFlags(pki.database, (yield* noConstraints.issueServer()).chain, ["GenericError"])
    }))

  it.effect("wrong EKU: a client certificate used as a server's, and the other way round", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const client = yield* pki.issueClient({ dnsNames: ["localhost"] })
      yield* expectFlags(pki.database, client.chain, ["GenericError"], { purpose: "server" })
      yield* expectFlags(pki.database, client.chain, [], { purpose: "client", identity: undefined })
      const server = yield* pki.issueServer()
      yield* expectFlags(pki.database, server.chain, ["GenericError"], { purpose: "client", identity: undefined })
      // no EKU extension: any purpose
      const any = yield* pki.issueServer({ extendedKeyUsage: "none" })
      yield* expectFlags(pki.database, any.chain, [], { purpose: "server" })
      yield* expectFlags(pki.database, any.chain, [], { purpose: "client", identity: undefined })
    }))

  it.effect("revoked by CRL", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const revoked = yield* pki.issueServer()
      const good = yield* pki.issueServer()
      const crl = yield* pki.crl({ revoked: [revoked] })
      const database = pki.databaseWith({ crls: [crl] })
      yield* expectFlags(database, revoked.chain, ["Revoked"])
      yield* expectFlags(database, good.chain, [])
      // without the CRL nothing is known
      yield* expectFlags(pki.database, revoked.chain, [])
      // an intermediate revoked by the root's CRL revokes the chain
      const intermediate = yield* pki.intermediate()
      const leaf = yield* intermediate.issueServer()
      const rootCrl = yield* pki.crl({ revoked: [intermediate.ca] })
      yield* expectFlags(pki.databaseWith({ crls: [rootCrl] }), leaf.chain, ["Revoked"])
    }))

  it.effect("SHA-1 signature", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW, keyType: "rsa-2048" })
      const sha1 = yield* pki.issueServer({ signatureHash: "sha1" })
      yield* expectFlags(pki.database, sha1.chain, ["Insecure"])
      const ec = yield* TestPki.make({ now: NOW })
      yield* expectFlags(ec.database, (yield* ec.issueServer({ signatureHash: "sha1" })).chain, ["Insecure"])
    }))

  it.effect("RSA-1024 key", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW })
      const small = yield* pki.issueServer({ keyType: "rsa-1024" })
      yield* expectFlags(pki.database, small.chain, ["Insecure"])
    }))

  it.effect("other algorithms verify: RSA PKCS#1, RSA-PSS, P-384, Ed25519", () =>
    Effect.gen(function*() {
      const rsa = yield* TestPki.make({ now: NOW, keyType: "rsa-2048" })
      yield* expectFlags(rsa.database, (yield* rsa.issueServer({ keyType: "rsa-2048" })).chain, [])
      yield* expectFlags(rsa.database, (yield* rsa.issueServer({ rsaPss: true })).chain, [])
      const p384 = yield* TestPki.make({ now: NOW, keyType: "ec-p384", signatureHash: "sha384" })
      yield* expectFlags(p384.database, (yield* p384.issueServer({ keyType: "ec-p384" })).chain, [])
      const ed = yield* TestPki.make({ now: NOW, keyType: "ed25519" })
      yield* expectFlags(ed.database, (yield* ed.issueServer({ keyType: "ed25519" })).chain, [])
    }))

  it.effect("several failures at once are all reported", () =>
    Effect.gen(function*() {
      const pki = yield* TestPki.make({ now: NOW, keyType: "rsa-2048" })
      const bad = yield* pki.issueServer({ validity: "expired", keyType: "rsa-1024", signatureHash: "sha1" })
      yield* expectFlags(pki.database, bad.chain, ["BadIdentity", "Expired", "Insecure"], { identity: "example.org" })

      const other = yield* TestPki.make({ now: NOW })
      const foreign = yield* other.issueServer({ validity: "notYetValid" })
      yield* expectFlags(pki.database, foreign.chain, ["UnknownCa", "BadIdentity", "NotActivated"], {
        identity: "example.org"
      })

      const revokedExpired = yield* pki.issueClient({ validity: "expired" })
      const crl = yield* pki.crl({ revoked: [revokedExpired] })
      yield* expectFlags(
        pki.databaseWith({ crls: [crl] }),
        revokedExpired.chain,
        ["BadIdentity", "Expired", "Revoked", "GenericError"]
      )
    }))
})
