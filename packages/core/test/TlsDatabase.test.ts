import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import * as Certificate from "../src/Certificate.js"
import type { CertificateFlag } from "../src/CertificateFlags.js"
import * as CertificateFlags from "../src/CertificateFlags.js"
import * as Crl from "../src/Crl.js"
import * as TlsDatabase from "../src/TlsDatabase.js"
import * as X from "./fixtures/x509.js"

const day = 86_400_000
const NOW = Date.UTC(2030, 0, 1)
const at = (offsetDays: number) => new Date(NOW + offsetDays * day)
const valid = { notBefore: at(-10), notAfter: at(100) }

const root = X.ca("Root CA", { ...valid, notAfter: at(3650) })
const inter = X.ca("Intermediate CA", { issuer: root, ...valid, ca: { pathLen: 0 } })
const otherRoot = X.ca("Other Root", valid)

const certs = (...issued: ReadonlyArray<X.Issued>) => Effect.forEach(issued, (i) => Certificate.fromDer(i.der))

const check = (
  chain: ReadonlyArray<X.Issued>,
  options: {
    readonly identity?: string
    readonly purpose?: TlsDatabase.Purpose
    readonly anchors?: ReadonlyArray<X.Issued>
    readonly intermediates?: ReadonlyArray<X.Issued>
    readonly crls?: ReadonlyArray<Uint8Array>
    readonly time?: Date
  } = {}
) =>
  Effect.gen(function*() {
    const database = TlsDatabase.fromAnchors(yield* certs(...(options.anchors ?? [root])), {
      intermediates: yield* certs(...(options.intermediates ?? [])),
      crls: options.crls ?? []
    })
    const flags = yield* database.verifyChain(yield* certs(...chain), {
      purpose: options.purpose ?? "server",
      identity: options.identity,
      time: options.time ?? at(0)
    })
    return CertificateFlags.toArray(flags)
  })

const expectFlags = (actual: ReadonlyArray<CertificateFlag>, ...expected: ReadonlyArray<CertificateFlag>) =>
  assert.deepStrictEqual(actual, CertificateFlags.toArray(CertificateFlags.make(...expected)))

/** A DER CRL signed by `issuer`, revoking `serials`. */
const makeCrl = (issuer: X.Issued, serials: ReadonlyArray<number>): Uint8Array => {
  const enc = (tag: number, ...parts: ReadonlyArray<Uint8Array>) => {
    const body = Buffer.concat(parts)
    const len = body.length < 128
      ? [body.length]
      : body.length < 256
      ? [0x81, body.length]
      : [0x82, body.length >> 8, body.length & 0xff]
    return new Uint8Array(Buffer.concat([Buffer.from([tag, ...len]), body]))
  }
  const int = (n: number) => {
    const hex = n.toString(16).padStart(2, "0")
    const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex")
    return enc(0x02, bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
  }
  const time = (d: Date) => enc(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"))
  const alg = enc(0x30, enc(0x06, new Uint8Array([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])))
  const crlNumber = enc(0x30, enc(0x06, new Uint8Array([0x55, 0x1d, 0x14])), enc(0x04, int(1)))
  const tbs = enc(
    0x30,
    int(1),
    alg,
    issuer.subject,
    time(at(-1)),
    time(at(30)),
    enc(0x30, ...serials.map((s) => enc(0x30, int(s), time(at(-1))))),
    enc(0xa0, enc(0x30, crlNumber))
  )
  const sig = crypto.sign("sha256", tbs, issuer.key.privateKey)
  return enc(0x30, tbs, alg, enc(0x03, new Uint8Array([0]), sig))
}

describe("TlsDatabase.verifyChain", () => {
  it.effect("trusted chain: no flags", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], valid)
      expectFlags(yield* check([leaf, inter], { identity: "example.com" }))
    }))

  it.effect("unknown CA", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], valid)
      expectFlags(yield* check([leaf, inter], { identity: "example.com", anchors: [otherRoot] }), "UnknownCa")
    }))

  it.effect("self-signed leaf: UnknownCa, accepted once it is itself an anchor", () =>
    Effect.gen(function*() {
      const self = X.issue({ subject: "self.test", dns: ["self.test"], ...valid, eku: [X.EKU.serverAuth] })
      expectFlags(yield* check([self], { identity: "self.test" }), "UnknownCa")
      expectFlags(yield* check([self], { identity: "self.test", anchors: [self] }))
    }))

  it.effect("expired and not yet valid", () =>
    Effect.gen(function*() {
      const expired = X.leaf(inter, ["example.com"], { notBefore: at(-10), notAfter: at(-1) })
      expectFlags(yield* check([expired, inter], { identity: "example.com" }), "Expired")
      const future = X.leaf(inter, ["example.com"], { notBefore: at(1), notAfter: at(10) })
      expectFlags(yield* check([future, inter], { identity: "example.com" }), "NotActivated")
    }))

  it.effect("wrong host, IP SAN match and mismatch", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], { ...valid, ips: ["192.0.2.7", "2001:db8::7"] })
      expectFlags(yield* check([leaf, inter], { identity: "other.com" }), "BadIdentity")
      expectFlags(yield* check([leaf, inter], { identity: "192.0.2.7" }))
      expectFlags(yield* check([leaf, inter], { identity: "2001:db8:0::7" }))
      expectFlags(yield* check([leaf, inter], { identity: "[2001:db8::7]" }))
      expectFlags(yield* check([leaf, inter], { identity: "192.0.2.8" }), "BadIdentity")
      // an IP address never matches a DNS SAN spelling it
      const dnsIp = X.leaf(inter, ["example.com"], valid)
      expectFlags(yield* check([dnsIp, inter], { identity: "192.0.2.7" }), "BadIdentity")
      // host names are case-insensitive, a trailing dot is ignored; no CN fallback
      expectFlags(yield* check([leaf, inter], { identity: "EXAMPLE.com." }))
      const cnOnly = X.issue({ subject: "cn.example.com", issuer: inter, ...valid, eku: [X.EKU.serverAuth] })
      expectFlags(yield* check([cnOnly, inter], { identity: "cn.example.com" }), "BadIdentity")
    }))

  it.effect("wildcard rules: left-most label only", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["*.example.com"], valid)
      expectFlags(yield* check([leaf, inter], { identity: "www.example.com" }))
      expectFlags(yield* check([leaf, inter], { identity: "example.com" }), "BadIdentity")
      expectFlags(yield* check([leaf, inter], { identity: "a.b.example.com" }), "BadIdentity")
      const partial = X.leaf(inter, ["w*.example.com"], valid)
      expectFlags(yield* check([partial, inter], { identity: "www.example.com" }), "BadIdentity", "GenericError")
    }))

  it.effect("missing intermediate supplied by the database; unordered and superfluous certificates", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], valid)
      expectFlags(yield* check([leaf], { identity: "example.com" }), "UnknownCa")
      expectFlags(yield* check([leaf], { identity: "example.com", intermediates: [inter] }))
      const stray = X.ca("Stray", valid)
      expectFlags(yield* check([leaf, stray, root, otherRoot, inter], { identity: "example.com" }))
    }))

  it.effect("path length exceeded", () =>
    Effect.gen(function*() {
      const sub = X.ca("Sub CA", { issuer: inter, ...valid })
      const leaf = X.leaf(sub, ["example.com"], valid)
      expectFlags(yield* check([leaf, sub, inter], { identity: "example.com" }), "GenericError")
    }))

  it.effect("CA:false issuer", () =>
    Effect.gen(function*() {
      const notCa = X.issue({ subject: "Not a CA", issuer: root, ca: false, ...valid })
      const leaf = X.leaf(notCa, ["example.com"], valid)
      expectFlags(yield* check([leaf, notCa], { identity: "example.com" }), "GenericError")
    }))

  it.effect("wrong EKU for the purpose", () =>
    Effect.gen(function*() {
      const client = X.leaf(inter, ["client.test"], { ...valid, eku: [X.EKU.clientAuth] })
      expectFlags(yield* check([client, inter], { identity: "client.test" }), "GenericError")
      expectFlags(yield* check([client, inter], { purpose: "client" }))
      const server = X.leaf(inter, ["server.test"], valid)
      expectFlags(yield* check([server, inter], { purpose: "client" }), "GenericError")
    }))

  it.effect("revoked by a CRL; a CRL of another issuer does not apply", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], { ...valid, serial: 4242 })
      const crl = makeCrl(inter, [4242])
      expectFlags(yield* check([leaf, inter], { identity: "example.com", crls: [crl] }), "Revoked")
      expectFlags(yield* check([leaf, inter], { identity: "example.com", crls: [makeCrl(inter, [1, 2])] }))
      expectFlags(yield* check([leaf, inter], { identity: "example.com", crls: [makeCrl(otherRoot, [4242])] }))
      const parsed = yield* Crl.fromDer(crl)
      assert.strictEqual(parsed.issuer.text, "CN=Intermediate CA")
      assert.isTrue(parsed.revokedSerials.has((4242).toString(16)))
    }))

  it.effect("a DER given as a CRL that cannot be read fails every verification (never ignored)", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], { ...valid, serial: 4243 })
      const garbage = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x01)
      expectFlags(yield* check([leaf, inter], { identity: "example.com", crls: [makeCrl(inter, [1])] }))
      expectFlags(
        yield* check([leaf, inter], { identity: "example.com", crls: [makeCrl(inter, [1]), garbage] }),
        "GenericError"
      )
    }))

  it.effect("SHA-1 signature and RSA-1024 key are Insecure", () =>
    Effect.gen(function*() {
      const rsaRoot = X.ca("RSA Root", { ...valid, key: X.generateKey("rsa2048") })
      const sha1 = X.leaf(rsaRoot, ["example.com"], { ...valid, hash: "sha1" })
      expectFlags(yield* check([sha1], { identity: "example.com", anchors: [rsaRoot] }), "Insecure")
      const weak = X.leaf(root, ["example.com"], { ...valid, key: X.generateKey("rsa1024") })
      expectFlags(yield* check([weak], { identity: "example.com" }), "Insecure")
    }))

  it.effect("verifies RSA PKCS#1, RSA-PSS, ECDSA P-384/P-521 and Ed25519 signatures", () =>
    Effect.gen(function*() {
      for (const type of ["rsa2048", "rsa-pss", "ec384", "ec521", "ed25519"] as const) {
        const ca = X.ca(`CA ${type}`, { ...valid, key: X.generateKey(type) })
        const leaf = X.leaf(ca, ["example.com"], valid)
        expectFlags(yield* check([leaf], { identity: "example.com", anchors: [ca] }))
        // a tampered signature breaks the path
        const tampered = leaf.der.slice()
        tampered[tampered.length - 5] ^= 1
        expectFlags(
          yield* check([{ ...leaf, der: tampered }], { identity: "example.com", anchors: [ca] }),
          "UnknownCa"
        )
      }
    }))

  it.effect("several failures at once are all reported", () =>
    Effect.gen(function*() {
      const stranger = X.ca("Stranger", valid)
      const leaf = X.leaf(stranger, ["example.com"], { notBefore: at(-10), notAfter: at(-1) })
      expectFlags(yield* check([leaf, stranger], { identity: "wrong.test" }), "UnknownCa", "BadIdentity", "Expired")
      const weakExpired = X.leaf(root, ["example.com"], {
        notBefore: at(-10),
        notAfter: at(-1),
        key: X.generateKey("rsa1024"),
        eku: [X.EKU.clientAuth]
      })
      expectFlags(
        yield* check([weakExpired], { identity: "x.test", crls: [] }),
        "BadIdentity",
        "Expired",
        "Insecure",
        "GenericError"
      )
    }))

  it.effect("defaults to the Clock's time (TestClock)", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(root, ["example.com"], valid)
      const database = TlsDatabase.fromAnchors(yield* certs(root))
      const chain = yield* certs(leaf)
      yield* TestClock.setTime(NOW)
      expectFlags(CertificateFlags.toArray(yield* database.verifyChain(chain, { purpose: "server" })))
      yield* TestClock.adjust(Duration.days(200))
      expectFlags(CertificateFlags.toArray(yield* database.verifyChain(chain, { purpose: "server" })), "Expired")
    }))

  it.effect("lookupIssuer, fromPem, layer and the accessors", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], valid)
      const database = yield* TlsDatabase.fromPem(root.pem, { intermediates: yield* certs(inter) })
      assert.isFalse(database.isSystem)
      assert.strictEqual(database.anchors.length, 1)
      const [leafCert, interCert] = yield* certs(leaf, inter)
      const issuer = yield* database.lookupIssuer(leafCert)
      assert.isTrue(Option.isSome(issuer) && Certificate.isSame(issuer.value, interCert))
      assert.isTrue(Option.isSome(yield* database.lookupIssuer(interCert)))
      assert.isTrue(Option.isNone(yield* database.lookupIssuer(yield* Certificate.fromDer(otherRoot.der))))
      const flags = yield* TlsDatabase.verifyChain([leafCert], {
        purpose: "server",
        identity: "example.com",
        time: at(0)
      })
        .pipe(Effect.provide(TlsDatabase.layer(database)))
      expectFlags(CertificateFlags.toArray(flags))
      const none = yield* TlsDatabase.empty.verifyChain([leafCert], { purpose: "server", time: at(0) })
      expectFlags(CertificateFlags.toArray(none), "UnknownCa")
      const error = yield* Effect.flip(TlsDatabase.fromPem("not pem"))
      assert.strictEqual(error._tag, "CertificateError")
    }))

  it.effect(
    "hostile chains (garbage, mutations, loops, long chains) only ever produce flags",
    () =>
      Effect.gen(function*() {
        const leaf = X.leaf(inter, ["example.com"], valid)
        const database = TlsDatabase.fromAnchors(yield* certs(root))
        const good = yield* certs(leaf, inter)
        const options = { purpose: "server" as const, identity: "example.com", time: at(0) }
        // a long chain of CAs that never reaches the anchor
        let top = X.ca("Loop 0", valid)
        const long: Array<X.Issued> = [top]
        for (let i = 1; i < 40; i++) {
          top = X.ca(`Loop ${i}`, { issuer: top, ...valid })
          long.push(top)
        }
        const longLeaf = X.leaf(top, ["example.com"], valid)
        const flags = yield* database.verifyChain(yield* certs(longLeaf, ...long.reverse()), options)
        assert.isTrue(CertificateFlags.has(flags, "UnknownCa"))
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 12 }),
              fc.integer({ min: 0, max: 10_000 }),
              fc.integer({ min: 1, max: 255 }),
              async (order, position, xor) => {
                const mutated = leaf.der.slice()
                mutated[position % mutated.length] ^= xor
                const parsedMutant = await Effect.runPromise(Effect.option(Certificate.fromDer(mutated)))
                const pool = [...good, ...(parsedMutant._tag === "Some" ? [parsedMutant.value] : [])]
                const chain = [pool[order[0] ?? 0] ?? pool[0], ...order.slice(1).map((i) => pool[i % pool.length])]
                const result = await Effect.runPromise(database.verifyChain(chain, options))
                assert.isTrue(result instanceof Set)
                // a mutated leaf never verifies cleanly
                if (parsedMutant._tag === "Some" && chain[0] === parsedMutant.value) assert.isTrue(result.size > 0)
              }
            ),
            { numRuns: 60 }
          )
        )
      }),
    60_000
  )

  it.live("a 3-certificate chain verifies in a few milliseconds once warm", () =>
    Effect.gen(function*() {
      const leaf = X.leaf(inter, ["example.com"], valid)
      const database = TlsDatabase.fromAnchors(yield* certs(root))
      const chain = yield* certs(leaf, inter)
      const options = { purpose: "server" as const, identity: "example.com", time: at(0) }
      yield* database.verifyChain(chain, options)
      const started = performance.now()
      for (let i = 0; i < 20; i++) {
        const fresh = yield* certs(leaf, inter)
        expectFlags(CertificateFlags.toArray(yield* database.verifyChain(fresh, options)))
      }
      const perChain = (performance.now() - started) / 20
      assert.isBelow(perChain, 25, `${perChain} ms per chain`)
    }))
})
