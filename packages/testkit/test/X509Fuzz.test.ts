/**
 * Malformed input never becomes a defect in `@effect-tls/x509`: CRLs and certificates with
 * the extensions RFC 5280 processing reads (policies, policy mappings and constraints,
 * distribution points, IDP, delta CRLs, entry extensions) are mutated byte by byte, parsed,
 * and used in a verification; every outcome is a typed error or a set of flags.
 */
import * as Certificate from "@effect-tls/core/Certificate"
import * as Pki from "@effect-tls/testkit/TestPki"
import * as Crl from "@effect-tls/x509/Crl"
import * as Der from "@effect-tls/x509/Der"
import * as Verifier from "@effect-tls/x509/Verifier"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "fast-check"

const NOW = new Date("2030-01-15T12:00:00Z")
const seq = (...parts: ReadonlyArray<Uint8Array>) => Der.encode(Der.Tag.SEQUENCE, ...parts)
const uri = (u: string) => Der.encode(0x86, new TextEncoder().encode(u))

describe("x509 fuzz", () => {
  it.live("mutated CRLs and certificates fail typed or verify to flags, never a defect", () =>
    Effect.gen(function*() {
      const root = yield* Pki.make({ now: NOW })
      const ca = yield* root.intermediate({
        extraExtensions: [
          { oid: "2.5.29.32", value: seq(seq(Der.encodeOid("1.3.6.1.4.1.99999.1"))) },
          {
            oid: "2.5.29.33",
            critical: true,
            value: seq(seq(Der.encodeOid("1.3.6.1.4.1.99999.1"), Der.encodeOid("1.3.6.1.4.1.99999.2")))
          },
          { oid: "2.5.29.36", critical: true, value: seq(Der.encode(0x80, Uint8Array.of(2))) },
          { oid: "2.5.29.54", critical: true, value: Der.encode(Der.Tag.INTEGER, Uint8Array.of(1)) }
        ]
      })
      const leaf = yield* ca.issue({
        extraExtensions: [
          { oid: "2.5.29.32", value: seq(seq(Der.encodeOid("1.3.6.1.4.1.99999.2"))) },
          { oid: "2.5.29.31", value: seq(seq(Der.encode(0xa0, Der.encode(0xa0, uri("http://crl.example/a"))))) }
        ]
      })
      const crl = yield* ca.crl({
        revoked: [{ serial: leaf, extensions: [{ oid: "2.5.29.21", value: Der.encode(0x0a, Uint8Array.of(1)) }] }, 7n],
        extensions: [{
          oid: "2.5.29.28",
          critical: true,
          value: seq(
            Der.encode(0xa0, Der.encode(0xa0, uri("http://crl.example/a"))),
            Der.encode(0x83, Uint8Array.of(6, 0x40))
          )
        }]
      })
      const delta = yield* ca.crl({
        number: 9,
        extensions: [{ oid: "2.5.29.27", critical: true, value: Der.encode(2, Uint8Array.of(1)) }]
      })
      const sources = [crl.der, delta.der, leaf.der, ca.ca.der]
      let runs = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 0, max: sources.length - 1 }),
            fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 1, max: 255 })), {
              minLength: 1,
              maxLength: 3
            }),
            async (which, edits) => {
              runs++
              const mutated = sources[which].slice()
              for (const [position, xor] of edits) mutated[position % mutated.length] ^= xor
              const asCrl = await Effect.runPromiseExit(Crl.fromDer(mutated))
              const asCert = await Effect.runPromiseExit(Certificate.fromDer(mutated))
              if (Exit.isFailure(asCrl)) assert.strictEqual(asCrl.cause._tag, "Fail")
              if (Exit.isFailure(asCert)) assert.strictEqual(asCert.cause._tag, "Fail")
              const crls = [Exit.isSuccess(asCrl) ? asCrl.value : mutated, crl.der, delta.der]
              const chain = Exit.isSuccess(asCert)
                ? [asCert.value, ca.ca.certificate]
                : [leaf.certificate, ca.ca.certificate]
              const exit = await Effect.runPromiseExit(
                Verifier.make({ anchors: [root.ca.certificate], crls }).verify(chain, {
                  purpose: "client",
                  time: NOW,
                  extendedKeyUsage: "any",
                  revocation: "required",
                  policy: { requireExplicitPolicy: true }
                })
              )
              assert.isTrue(Exit.isSuccess(exit))
            }
          ),
          { numRuns: 1500 }
        )
      )
      assert.strictEqual(runs, 1500)
      // and the unmutated chain is valid for the mapped policy, revocation checked
      const result = yield* Verifier.make({ anchors: [root.ca.certificate], crls: [crl.der] }).verify(
        [leaf.certificate, ca.ca.certificate],
        { purpose: "client", time: NOW, extendedKeyUsage: "any", policy: { requireExplicitPolicy: true } }
      )
      assert.deepStrictEqual([...result.flags], ["Revoked"])
    }))
})
