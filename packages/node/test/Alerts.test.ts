/**
 * Alerts (issue 6, defect 5): "we refused the peer's chain" and "the peer refused us (alert X)"
 * stay apart, and the alert is typed (`TlsError.AlertDescription`, RFC 8446 names). A peer that
 * answers our ClientHello with a certificate-family alert, when we sent it no certificate, did
 * not reject a certificate of ours.
 */
import * as TlsClient from "@effect-tls/core/TlsClient"
import * as TlsError from "@effect-tls/core/TlsError"
import type * as Transport from "@effect-tls/core/Transport"
import * as MemoryTransport from "@effect-tls/testkit/MemoryTransport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as NodeTlsBackend from "../src/NodeTlsBackend.js"
import * as NodeTransport from "../src/NodeTransport.js"

const layer = Layer.merge(TestPki.layer(), NodeTlsBackend.layer)

type PairMaker = Effect.Effect<readonly [Transport.Transport, Transport.Transport], unknown, Scope.Scope>

const transports: ReadonlyArray<readonly [string, PairMaker]> = [
  ["memory", MemoryTransport.pair()],
  ["tcp", NodeTransport.pairForTest]
]

/** A peer that reads the ClientHello and answers with one fatal alert record. */
const alertingPeer = (transport: Transport.Transport, description: number) =>
  Effect.zipRight(
    transport.read,
    transport.write(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]))
  )

const cases: ReadonlyArray<readonly [TlsError.AlertDescription, number]> = [
  ["certificate_revoked", 44],
  ["certificate_unknown", 46],
  ["access_denied", 49],
  ["bad_certificate", 42],
  ["handshake_failure", 40]
]

describe("alerts", () => {
  it("AlertDescription names RFC 8446's alerts", () => {
    assert.strictEqual(TlsError.alertDescriptions.length, 27)
    assert.isTrue(TlsError.isAlertDescription("certificate_required"))
    assert.isFalse(TlsError.isAlertDescription("none: connection closed"))
  })

  for (const [name, makePair] of transports) {
    for (const [alert, code] of cases) {
      it.scopedLive(`${name}: ${alert} from a peer we sent no certificate is its refusal, typed, not ours`, () =>
        Effect.gen(function*() {
          const fixture = yield* TestPki.TestPki
          const [clientTransport, serverTransport] = yield* makePair
          yield* Effect.forkScoped(alertingPeer(serverTransport, code))
          // a client that has a certificate, never asked for: it sent none
          const client = yield* TlsClient.make(clientTransport, {
            serverIdentity: "localhost",
            database: fixture.pki.database,
            certificate: fixture.client.certifiedKey
          })
          const error = yield* Effect.flip(client.handshake)
          assert.strictEqual(error._tag, "TlsGenericError", error.message)
          assert.strictEqual(error.reason, "Handshake")
          assert.strictEqual((error as TlsError.TlsGenericError).alert, alert)
          assert.include(error.message, `alert ${alert} from the peer`)
          assert.notInclude(error.message, "rejected our certificate")
        }).pipe(Effect.provide(layer)))
    }
  }
})
