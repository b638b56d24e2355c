import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Certificate from "../src/Certificate.js"
import * as CertificateFlags from "../src/CertificateFlags.js"
import * as TlsDatabase from "../src/TlsDatabase.js"
import * as X from "./fixtures/x509.js"

const day = 86_400_000
const NOW = Date.UTC(2030, 0, 1)
const at = (offsetDays: number) => NOW + offsetDays * day

const root = X.ca("Root CA", { notBefore: new Date(at(-20)), notAfter: new Date(at(3650)) })
const inter = X.ca("Intermediate CA", { issuer: root, notBefore: new Date(at(-10)), notAfter: new Date(at(200)) })
const leaf = X.leaf(inter, ["example.com"], { notBefore: new Date(at(-5)), notAfter: new Date(at(100)) })

const setup = Effect.gen(function*() {
  const [anchor, intermediate, certificate] = yield* Effect.forEach(
    [root, inter, leaf],
    (i) => Certificate.fromDer(i.der)
  )
  return {
    chain: [certificate, intermediate],
    cached: TlsDatabase.fromAnchors([anchor]),
    fresh: TlsDatabase.fromAnchors([anchor], { verdictCache: false })
  }
})

/** Times around every validity date of the chain and its anchor, to the millisecond and second. */
const probes = [at(-20), at(-10), at(-5), at(0), at(100), at(200), at(3650)].flatMap((v) =>
  [-1000, -1, 0, 1, 999, 1000, 1001].map((d) => v + d)
)

/** A verdict found in the cache comes back synchronously; a computed one needs WebCrypto (async). */
const isCached = (database: TlsDatabase.TlsDatabaseShape, chain: Certificate.CertificateChain, time: number) => {
  try {
    Effect.runSync(database.verifyChain(chain, { purpose: "server", identity: "example.com", time: new Date(time) }))
    return true
  } catch {
    return false
  }
}

describe("TlsDatabase verdict cache", () => {
  it.effect("a cached verdict equals a fresh one, whatever the order of times, identities and purposes", () =>
    Effect.gen(function*() {
      const { cached, chain, fresh } = yield* setup
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.record({
                time: fc.constantFrom(...probes),
                identity: fc.constantFrom("example.com", "other.example", undefined),
                purpose: fc.constantFrom("server" as const, "client" as const)
              }),
              { minLength: 1, maxLength: 12 }
            ),
            async (checks) => {
              for (const check of checks) {
                const options = { purpose: check.purpose, identity: check.identity, time: new Date(check.time) }
                const a = await Effect.runPromise(cached.verifyChain(chain, options))
                const b = await Effect.runPromise(fresh.verifyChain(chain, options))
                assert.deepStrictEqual(CertificateFlags.toArray(a), CertificateFlags.toArray(b))
              }
            }
          ),
          { numRuns: 40 }
        )
      )
    }))

  it.effect("a verdict is reused within its span and expires at the leaf's notAfter", () =>
    Effect.gen(function*() {
      const { cached, chain, fresh } = yield* setup
      const verify = (time: number) =>
        cached.verifyChain(chain, { purpose: "server", identity: "example.com", time: new Date(time) })
      assert.deepStrictEqual(CertificateFlags.toArray(yield* verify(at(0))), [])
      assert.isTrue(isCached(cached, chain, at(50)))
      assert.isTrue(isCached(cached, chain, at(100) - 1))
      assert.isFalse(isCached(fresh, chain, at(0)))
      // one second past notAfter: the cached verdict no longer holds; a fresh one says Expired
      assert.isFalse(isCached(cached, chain, at(100) + 1000))
      assert.deepStrictEqual(CertificateFlags.toArray(yield* verify(at(100) + 1000)), ["Expired"])
      assert.isTrue(isCached(cached, chain, at(150)))
      // and back before notBefore (a clock may go back): NotActivated, computed afresh
      assert.isFalse(isCached(cached, chain, at(-6)))
      assert.deepStrictEqual(CertificateFlags.toArray(yield* verify(at(-6))), ["NotActivated"])
    }))

  it.effect("the identity, the purpose and the other options are part of the key", () =>
    Effect.gen(function*() {
      const { cached, chain } = yield* setup
      const time = new Date(at(0))
      assert.deepStrictEqual(
        CertificateFlags.toArray(
          yield* cached.verifyChain(chain, { purpose: "server", identity: "example.com", time })
        ),
        []
      )
      assert.deepStrictEqual(
        CertificateFlags.toArray(
          yield* cached.verifyChain(chain, { purpose: "server", identity: "other.example", time })
        ),
        ["BadIdentity"]
      )
      const client = yield* cached.verifyChain(chain, { purpose: "client", identity: "example.com", time })
      assert.isTrue(client.has("GenericError"))
      // every other verification option too
      const anyUse = { purpose: "client", identity: "example.com", time, extendedKeyUsage: "any" } as const
      assert.deepStrictEqual(CertificateFlags.toArray(yield* cached.verifyChain(chain, anyUse)), [])
      assert.isTrue((yield* cached.verifyChain(chain, { purpose: "client", identity: "example.com", time })).has(
        "GenericError"
      ))
    }))

  it.effect("at most verdictCache verdicts are kept, the least recently used dropped first", () =>
    Effect.gen(function*() {
      const { chain } = yield* setup
      const database = TlsDatabase.fromAnchors([yield* Certificate.fromDer(root.der)], { verdictCache: 2 })
      const time = at(0)
      const verify = (identity: string) =>
        database.verifyChain(chain, { purpose: "server", identity, time: new Date(time) })
      const cachedFor = (identity: string) => {
        try {
          Effect.runSync(verify(identity))
          return true
        } catch {
          return false
        }
      }
      yield* verify("example.com")
      yield* verify("a.example.com")
      // a hit on the older one makes the other the least recently used
      assert.isTrue(cachedFor("example.com"))
      assert.isTrue(cachedFor("example.com"))
      yield* verify("b.example.com")
      assert.isTrue(cachedFor("example.com"))
      assert.isTrue(cachedFor("b.example.com"))
      // (last: a miss starts a verification of its own)
      assert.isFalse(cachedFor("a.example.com"))
    }))
})
