/**
 * The close_notify guard (src/internal/closeNotifyGuard.ts), which gives Bun half-close: fed a
 * real TLS 1.3 client's records (node:tls on whatever runtime runs this), it passes every byte
 * on unchanged except the client's close_notify, which it withholds while our side is open and
 * hands on after `release`; it never withholds anything else, and passes through what it
 * cannot read (TLS 1.2, a truncation, a close_notify after ours).
 */
import * as Transport from "@effect-tls/core/Transport"
import * as TestPki from "@effect-tls/testkit/TestPki"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import * as closeNotifyGuard from "../src/internal/closeNotifyGuard.js"

interface Recorded {
  /** The client's ciphertext, chunk by chunk, as the server's transport received it. */
  readonly chunks: ReadonlyArray<Uint8Array>
  /** The server's keylog lines. */
  readonly keylog: ReadonlyArray<Buffer>
}

/** A node:tls client and server over an in-memory pair; the client writes `parts`, then ends or is cut. */
const record = (
  fixture: TestPki.Fixture,
  version: "TLSv1.2" | "TLSv1.3",
  parts: ReadonlyArray<string>,
  ending: "close_notify" | "cut"
): Effect.Effect<Recorded> =>
  Effect.async<Recorded>((resume) => {
    const chunks: Array<Uint8Array> = []
    const keylog: Array<Buffer> = []
    const peers: { toServer?: Duplex; toClient?: Duplex } = {}
    const serverSide: Duplex = new Duplex({
      read() {},
      write(chunk, _encoding, callback) {
        peers.toClient!.push(chunk)
        callback()
      }
    })
    const clientSide: Duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(new Uint8Array(chunk))
        peers.toServer!.push(chunk)
        callback()
      },
      final(callback) {
        callback()
      }
    })
    peers.toServer = serverSide
    peers.toClient = clientSide
    const server = new tls.TLSSocket(serverSide, {
      isServer: true,
      secureContext: tls.createSecureContext({
        cert: fixture.serverPem,
        key: fixture.keyPem,
        minVersion: version,
        maxVersion: version
      })
    })
    server.on("keylog", (line: Buffer) => keylog.push(line))
    server.on("error", () => {})
    server.resume()
    const client = tls.connect({
      socket: clientSide,
      ca: fixture.caPem,
      servername: "localhost",
      minVersion: version,
      maxVersion: version
    })
    client.on("error", () => {})
    client.on("secureConnect", () => {
      for (const part of parts) client.write(part)
      if (ending === "close_notify") client.end()
      else client.write("", () => setTimeout(() => done(), 20))
    })
    const done = () => {
      client.destroy()
      server.destroy()
      resume(Effect.succeed({ chunks, keylog }))
    }
    client.on("finish", () => setTimeout(done, 20))
  })

/** Feeds the recorded chunks (then the end of input) through a guard, as the bridge would read them. */
const feed = (recorded: Recorded, writeOpen: boolean) => {
  const queue = [...recorded.chunks]
  const underlying = Transport.make({
    read: Effect.sync(() => Option.fromNullable(queue.shift())),
    write: () => Effect.void,
    shutdownWrite: Effect.void,
    description: { kind: "memory" } as Transport.Description
  })
  let peerClosedCalls = 0
  const guard = closeNotifyGuard.make(underlying, "server", {
    writeOpen: () => writeOpen,
    handedOn: () => true,
    onPeerClosed: () => peerClosedCalls++
  })
  for (const line of recorded.keylog) guard.onKeylog(line)
  return { guard, peerClosedCalls: () => peerClosedCalls }
}

const join = (chunks: ReadonlyArray<Uint8Array>): Buffer => Buffer.concat(chunks.map((c) => Buffer.from(c)))

/** Reads until the guard stops giving bytes for `ms` milliseconds, or the end of input. */
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

/** The last record of a byte stream (the close_notify, when the client ended with one). */
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

describe("close_notify guard (half-close on Bun)", () => {
  it.live("withholds the client's TLS 1.3 close_notify while our side is open, and only that", () =>
    Effect.gen(function*() {
      const recorded = yield* record(
        yield* fixture,
        "TLSv1.3",
        ["ping", " and ", "p", "x".repeat(40_000)],
        "close_notify"
      )
      const all = join(recorded.chunks)
      const closeNotify = lastRecord(all)
      assert.strictEqual(closeNotify.length, 5 + 2 + 1 + 16, "an unpadded TLS 1.3 alert record")
      const { guard, peerClosedCalls } = feed(recorded, true)
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
      const recorded = yield* record(yield* fixture, "TLSv1.3", ["ping"], "close_notify")
      const { guard } = feed(recorded, false)
      const out = yield* readAvailable(guard.transport)
      assert.isTrue(out.ended)
      assert.deepStrictEqual(out.bytes, join(recorded.chunks))
      assert.isFalse(guard.peerClosed())
    }))

  it.live("passes a truncated stream unchanged (no close_notify: nothing withheld)", () =>
    Effect.gen(function*() {
      const recorded = yield* record(yield* fixture, "TLSv1.3", ["p", "ab", "partial"], "cut")
      const { guard } = feed(recorded, true)
      const out = yield* readAvailable(guard.transport)
      assert.isTrue(out.ended)
      assert.deepStrictEqual(out.bytes, join(recorded.chunks))
      assert.isFalse(guard.peerClosed())
    }))

  it.live("passes TLS 1.2 unchanged (no TLS 1.3 secret to read it with)", () =>
    Effect.gen(function*() {
      const recorded = yield* record(yield* fixture, "TLSv1.2", ["ping"], "close_notify")
      const { guard } = feed(recorded, true)
      const out = yield* readAvailable(guard.transport)
      assert.isTrue(out.ended)
      assert.deepStrictEqual(out.bytes, join(recorded.chunks))
      assert.isFalse(guard.peerClosed())
    }))
})
