/**
 * The close_notify guard (src/internal/closeNotifyGuard.ts), which gives Bun half-close: fed a
 * real peer's records (node:tls on whatever runtime runs this), it passes every byte on
 * unchanged except the peer's close_notify, which it withholds while our side is open and hands
 * on after `release`; it never withholds anything else, and passes through what it has no reason
 * to keep (a truncation, a close_notify after ours).
 */
import * as Transport from "@effect-tls/core/Transport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import * as closeNotifyGuard from "../src/internal/closeNotifyGuard.js"

type Side = "client" | "server"
type Version = "TLSv1.2" | "TLSv1.3"

interface Recorded {
  /** The sender's ciphertext, chunk by chunk, as the receiver's transport got it. */
  readonly received: ReadonlyArray<Uint8Array>
  /** The receiver's own ciphertext (its ServerHello, when it is the server). */
  readonly sent: ReadonlyArray<Uint8Array>
  /** The receiver's keylog lines. */
  readonly keylog: ReadonlyArray<Buffer>
  /** The suite negotiated (recorded when `ciphers` chose one). */
  readonly cipher?: string | undefined
}

/**
 * A node:tls client and server over an in-memory pair; after the handshake `sender` writes
 * `parts`, then ends (close_notify) or stops (a cut). Records what the other side (the guard's)
 * received, sent, and logged.
 */
const record = (
  fixture: TestPki.Fixture,
  version: Version,
  sender: Side,
  parts: ReadonlyArray<string>,
  ending: "close_notify" | "cut",
  ciphers?: string
): Effect.Effect<Recorded> =>
  Effect.async<Recorded>((resume) => {
    const received: Array<Uint8Array> = []
    const sent: Array<Uint8Array> = []
    const keylog: Array<Buffer> = []
    const cipher: Array<string> = []
    const ends: { server?: Duplex; client?: Duplex } = {}
    const end = (side: Side): Duplex =>
      new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, callback) {
          ;(side === sender ? received : sent).push(new Uint8Array(chunk))
          ends[side === "server" ? "client" : "server"]!.push(chunk)
          callback()
        },
        final(callback) {
          callback()
        }
      })
    ends.server = end("server")
    ends.client = end("client")
    const server = new tls.TLSSocket(ends.server, {
      isServer: true,
      secureContext: tls.createSecureContext({
        cert: fixture.serverPem,
        key: fixture.keyPem,
        minVersion: version,
        maxVersion: version,
        ...(ciphers !== undefined ? { ciphers } : {})
      })
    })
    const client = tls.connect({
      socket: ends.client,
      ca: fixture.caPem,
      servername: "localhost",
      minVersion: version,
      maxVersion: version
    })
    const [writer, receiver] = sender === "client" ? [client, server] : [server, client]
    if (ciphers !== undefined) {
      client.once("secureConnect", () => cipher.push(client.getCipher().standardName ?? client.getCipher().name))
    }
    receiver.on("keylog", (line: Buffer) => keylog.push(line))
    for (const socket of [client, server]) {
      socket.on("error", () => {})
      socket.resume()
    }
    const done = () => {
      client.destroy()
      server.destroy()
      resume(Effect.succeed({ received, sent, keylog, cipher: cipher[0] }))
    }
    client.on("secureConnect", () =>
      // (the server's `secure` has come or comes with the client's Finished: wait a turn)
      setTimeout(() => {
        for (const part of parts) writer.write(part)
        if (ending === "close_notify") writer.end()
        setTimeout(done, 50)
      }, 20))
  })

/** A guard on `side`, fed the recorded chunks (then the end of input) as the bridge would read them. */
const feed = (recorded: Recorded, side: Side, version: Version, writeOpen: boolean) =>
  Effect.gen(function*() {
    const queue = [...recorded.received]
    const underlying = Transport.make({
      read: Effect.sync(() => Option.fromNullable(queue.shift())),
      write: () => Effect.void,
      shutdownWrite: Effect.void,
      description: { kind: "memory" } as Transport.Description
    })
    let peerClosedCalls = 0
    const guard = closeNotifyGuard.make(underlying, side, {
      writeOpen: () => writeOpen,
      handedOn: () => true,
      onPeerClosed: () => peerClosedCalls++
    })
    for (const line of recorded.keylog) guard.onKeylog(line)
    // the server's ServerHello goes out through the guard (the TLS 1.2 server random)
    for (const chunk of recorded.sent) yield* guard.transport.write(chunk)
    guard.setProtocol(version)
    return { guard, peerClosedCalls: () => peerClosedCalls }
  })

const join = (chunks: ReadonlyArray<Uint8Array>): Buffer => Buffer.concat(chunks.map((c) => Buffer.from(c)))

/** Reads until the guard gives no bytes for 100 ms, or the end of input. */
const readAvailable = (transport: Transport.Transport) =>
  Effect.gen(function*() {
    const out: Array<Uint8Array> = []
    while (true) {
      const next = yield* Effect.timeoutOption(transport.read, "100 millis")
      if (Option.isNone(next)) return { bytes: join(out), ended: false }
      if (Option.isNone(next.value)) return { bytes: join(out), ended: true }
      out.push(next.value.value)
    }
  })

/** The last record of a byte stream (the close_notify, when the sender ended with one). */
const lastRecord = (bytes: Buffer): Buffer => {
  let i = 0
  let last = 0
  while (i + 5 <= bytes.length) {
    last = i
    i += 5 + bytes.readUInt16BE(i + 3)
  }
  return bytes.subarray(last)
}

const fixture = Effect.orDie(TestPki.makeFixture())

// (TLS 1.2 ChaCha20-Poly1305: Bun's node:crypto has no such cipher, the guard opens it with
// @noble/ciphers there; Bun honours TLS 1.2 names in `ciphers`)
const onDeno = typeof (globalThis as any).Deno === "object"
const chacha12 = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
const cases = [
  { version: "TLSv1.3", label: "TLSv1.3", ciphers: undefined },
  { version: "TLSv1.2", label: "TLSv1.2", ciphers: undefined },
  { version: "TLSv1.2", label: "TLSv1.2 ChaCha20-Poly1305", ciphers: chacha12 }
] as const

describe("close_notify guard (half-close on Bun)", () => {
  for (const { ciphers, label, version } of cases) {
    for (const side of ["server", "client"] as const) {
      const peer: Side = side === "server" ? "client" : "server"
      describe(`${label}, guarding the ${side}`, () => {
        it.live("withholds the peer's close_notify while our side is open, and only that", () =>
          Effect.gen(function*() {
            const parts = ["ping", " and ", "p", "x".repeat(40_000), "q"]
            const recorded = yield* record(yield* fixture, version, peer, parts, "close_notify", ciphers)
            // (Deno ignores `ciphers`, TLS 1.2 names too: its own choice, AES-256-GCM, is guarded then)
            if (ciphers !== undefined) {
              assert.match(recorded.cipher ?? "", onDeno ? /AES_256_GCM/ : /CHACHA20_POLY1305/)
            }
            const all = join(recorded.received)
            const closeNotify = lastRecord(all)
            assert.strictEqual(closeNotify[0], version === "TLSv1.3" ? 23 : 21)
            const { guard, peerClosedCalls } = yield* feed(recorded, side, version, true)
            if (recorded.keylog.length === 0) {
              // (Deno's node:tls logs no keys: without them the guard keeps nothing, fail-safe)
              const out = yield* readAvailable(guard.transport)
              assert.isTrue(out.ended)
              assert.deepStrictEqual(out.bytes, all)
              assert.isFalse(guard.peerClosed())
              return
            }
            // (where keys are logged, TLS 1.2 names in `ciphers` are honoured: Node, Bun)
            if (ciphers !== undefined) assert.match(recorded.cipher ?? "", /CHACHA20_POLY1305/)
            const before = yield* readAvailable(guard.transport)
            assert.isFalse(before.ended)
            assert.deepStrictEqual(before.bytes, all.subarray(0, all.length - closeNotify.length))
            assert.isTrue(guard.peerClosed())
            assert.strictEqual(peerClosedCalls(), 1)
            guard.release()
            const after = yield* readAvailable(guard.transport)
            assert.isTrue(after.ended)
            assert.deepStrictEqual(after.bytes, closeNotify)
          }))

        it.live("passes a close_notify that comes after ours (our write side ended)", () =>
          Effect.gen(function*() {
            const recorded = yield* record(yield* fixture, version, peer, ["ping"], "close_notify", ciphers)
            const { guard } = yield* feed(recorded, side, version, false)
            const out = yield* readAvailable(guard.transport)
            assert.isTrue(out.ended)
            assert.deepStrictEqual(out.bytes, join(recorded.received))
            assert.isFalse(guard.peerClosed())
          }))

        it.live("passes a truncated stream unchanged (no close_notify: nothing withheld)", () =>
          Effect.gen(function*() {
            const recorded = yield* record(yield* fixture, version, peer, ["p", "ab", "partial"], "cut", ciphers)
            const { guard } = yield* feed(recorded, side, version, true)
            const out = yield* readAvailable(guard.transport)
            assert.isTrue(out.ended)
            assert.deepStrictEqual(out.bytes, join(recorded.received))
            assert.isFalse(guard.peerClosed())
          }))
      })
    }
  }
})
