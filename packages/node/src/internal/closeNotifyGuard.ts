/**
 * Half-close on Bun: keeps the peer's TLS 1.3 close_notify away from Bun's node:tls until our
 * own side has closed.
 *
 * Bun's node:tls over a JS Duplex answers a peer's close_notify at once (BoringSSL's
 * `SSL_shutdown`, inside its native wrapper) and refuses every later write: a server that reads
 * a request to its end and then answers would lose the answer. The guard sits between the
 * transport and the bridge: it follows the peer's records, decrypts the small ones with the
 * peer's application traffic secret (from node's `keylog` event, kept here) and, when one is a
 * close_notify while our write side is still open, withholds it (and whatever follows) and
 * reports the peer's clean end itself. `release` hands the withheld bytes on once our own
 * close_notify has gone out, so node:tls ends as it does on Node.
 *
 * It is fail-safe, never a guess: a record it cannot read (TLS 1.2, an unknown suite, a padded
 * or unexpected record) passes unchanged to node:tls, which then behaves as without the guard
 * (the late write fails with a typed `Closed` error). Only TLS 1.3 is followed; `disable` (on
 * another protocol) makes it a plain pass-through.
 *
 * @internal
 */
import * as Condition from "@effect-tls/core/Condition"
import * as Transport from "@effect-tls/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"
import { cipherSuite, hkdfExpandLabel, type Tls13CipherSuite } from "./tls13RecordProtection.js"

const APPLICATION_DATA = 23
const ALERT = 21
const HANDSHAKE = 22
const KEY_UPDATE = 24
/** A TLSCiphertext this short may hold an alert (2 bytes + type + tag, some padding) or a KeyUpdate. */
const MAX_SMALL_RECORD = 96
const MAX_RECORD = (1 << 14) + 256 + 5

/** @internal */
export interface CloseNotifyGuard {
  /** What the bridge reads instead of the transport. */
  readonly transport: Transport.Transport
  /** Every line of the TLS socket's `keylog` event. */
  readonly onKeylog: (line: Buffer) => void
  /** The peer's close_notify arrived and is withheld: the peer's direction ended cleanly. */
  readonly peerClosed: () => boolean
  /** Our close_notify went out: the withheld bytes go on to node:tls. */
  readonly release: () => void
  /** Stop following records (not TLS 1.3): everything passes unchanged. */
  readonly disable: () => void
}

/** @internal */
export interface GuardHooks {
  /** Whether our write side is still open (a close_notify after ours needs no guard). */
  readonly writeOpen: () => boolean
  /** Whether node:tls has taken everything handed to it so far (the bridge's readable buffer is empty). */
  readonly handedOn: () => boolean
  /** Called when `peerClosed` becomes true. */
  readonly onPeerClosed: () => void
}

/** Whether these handshake messages include a KeyUpdate. */
const hasKeyUpdate = (content: Uint8Array): boolean => {
  let i = 0
  while (i + 4 <= content.length) {
    if (content[i] === KEY_UPDATE) return true
    i += 4 + ((content[i + 1]! << 16) | (content[i + 2]! << 8) | content[i + 3]!)
  }
  return false
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

/** @internal */
export const make = (
  underlying: Transport.Transport,
  side: "client" | "server",
  hooks: GuardHooks
): CloseNotifyGuard => {
  // the secret the peer's application records are protected with
  const peerLabel = side === "client" ? "SERVER_TRAFFIC_SECRET_0" : "CLIENT_TRAFFIC_SECRET_0"
  let secret: Buffer | undefined = undefined
  /** The suite, once a trial decryption found it (TLS 1.3 suites of the secret's hash length). */
  let suite: Tls13CipherSuite | undefined = undefined
  /** Sequence number of the peer's next application record, once its first one was found. */
  let seq: number | undefined = undefined
  let enabled = true

  /** Input not handed on yet: the start of a record the guard must see whole. */
  let held: Uint8Array = new Uint8Array(0)
  /** Bytes of a record being passed through that are still to come. */
  let passRemaining = 0
  /** The record at the head of `held` waits for node:tls to settle before it is judged. */
  let mustSettle = false
  let withheld: Array<Uint8Array> | undefined = undefined
  let released = false
  let closedByPeer = false
  const changed = Condition.make()

  const forget = () => {
    secret?.fill(0)
    secret = undefined
  }

  const disable = () => {
    enabled = false
    forget()
    changed.notify()
  }

  const onKeylog = (line: Buffer) => {
    if (!enabled || secret !== undefined) return
    const text = line.toString("latin1").trim()
    if (!text.startsWith(peerLabel + " ")) return
    const hex = text.split(" ")[2]
    if (hex === undefined || !/^[0-9a-fA-F]+$/.test(hex)) return
    secret = Buffer.from(hex, "hex")
  }

  const suitesFor = (length: number): Array<Tls13CipherSuite> =>
    length === 48 ? [cipherSuite(0x1302)!] : [cipherSuite(0x1301)!, cipherSuite(0x1303)!]

  /** Decrypts one whole record at sequence number `at` (RFC 8446 §5.2, §5.3); undefined when it does not authenticate. */
  const open = (record: Uint8Array, at: number, with_: Tls13CipherSuite) => {
    const key = hkdfExpandLabel(with_.hash, secret!, "key", with_.keyLength)
    const nonce = hkdfExpandLabel(with_.hash, secret!, "iv", 12)
    nonce.writeUInt32BE((nonce.readUInt32BE(4) ^ Math.floor(at / 0x100000000)) >>> 0, 4)
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ at) >>> 0, 8)
    try {
      const decipher = Crypto.createDecipheriv(with_.cipher as "aes-128-gcm", key, nonce, { authTagLength: 16 })
      decipher.setAAD(record.subarray(0, 5))
      decipher.setAuthTag(record.subarray(record.length - 16))
      const plain = Buffer.concat([decipher.update(record.subarray(5, record.length - 16)), decipher.final()])
      let end = plain.length
      while (end > 0 && plain[end - 1] === 0) end--
      if (end === 0) return undefined
      return { type: plain[end - 1]!, content: plain.subarray(0, end - 1) }
    } catch {
      return undefined
    } finally {
      key.fill(0)
      nonce.fill(0)
    }
  }

  type Verdict = "pass" | "withhold"

  /** Judges one whole application_data record. */
  const judge = (record: Uint8Array): Verdict => {
    if (secret === undefined) return "pass" // a handshake record (the peer's keys are not out yet)
    let opened: { type: number; content: Uint8Array } | undefined
    if (seq === undefined) {
      // the peer's first application record decrypts at sequence number 0; before it, handshake records
      for (const candidate of suitesFor(secret.length)) {
        opened = open(record, 0, candidate)
        if (opened !== undefined) {
          suite = candidate
          break
        }
      }
      if (opened === undefined) return "pass"
      seq = 1
    } else {
      const at = seq++
      if (record.length - 5 > MAX_SMALL_RECORD) return "pass"
      opened = open(record, at, suite!)
      if (opened === undefined) {
        // lost track (padding, something unexpected): from now on node:tls sees everything as is
        disable()
        return "pass"
      }
    }
    if (opened.type === ALERT && opened.content.length === 2 && opened.content[1] === 0 && hooks.writeOpen()) {
      return "withhold"
    }
    if (opened.type === HANDSHAKE && hasKeyUpdate(opened.content)) {
      // the peer's next secret (RFC 8446 §7.2)
      const next = hkdfExpandLabel(suite!.hash, secret, "traffic upd", suite!.hashLength)
      secret.fill(0)
      secret = next
      seq = 0
    }
    return "pass"
  }

  /**
   * Splits `held` into what goes on now and what stays; `undefined` when a whole record must
   * be read first. Returns the bytes to hand on (possibly empty) and whether to stop there.
   */
  const step = (): { readonly out: Uint8Array; readonly stop: "more" | "settle" | "withhold" | "none" } => {
    let i = 0
    while (i < held.length) {
      if (passRemaining > 0) {
        const n = Math.min(passRemaining, held.length - i)
        passRemaining -= n
        i += n
        continue
      }
      if (held.length - i < 5) return cut(i, "more")
      const type = held[i]!
      const length = (held[i + 3]! << 8) | held[i + 4]!
      const small = length <= MAX_SMALL_RECORD
      if (type !== APPLICATION_DATA || (seq !== undefined && !small) || 5 + length > MAX_RECORD) {
        if (type === APPLICATION_DATA && seq !== undefined) seq++
        passRemaining = 5 + length
        continue
      }
      if (held.length - i < 5 + length) return cut(i, "more")
      if (seq === undefined && !mustSettle) {
        // first hand on what precedes it, so that node:tls can derive the keys it protects
        mustSettle = true
        return cut(i, "settle")
      }
      mustSettle = false
      if (judge(held.subarray(i, i + 5 + length)) === "withhold") return cut(i, "withhold")
      if (!enabled) {
        i = held.length
        break
      }
      i += 5 + length
    }
    return cut(i, "none")
  }

  const cut = (i: number, stop: "more" | "settle" | "withhold" | "none") => {
    const out = held.subarray(0, i)
    held = held.subarray(i)
    return { out, stop }
  }

  /** Resumes once node:tls has taken everything handed to it so far (Bun reads it synchronously). */
  const settled: Effect.Effect<void> = Effect.async<void>((resume) => {
    let handle: ReturnType<typeof setTimeout> | undefined = undefined
    let polls = 0
    const poll = () => {
      if (hooks.handedOn()) return resume(Effect.void)
      handle = polls++ < 16 ? setTimeout(poll, 0) : setTimeout(poll, 10)
    }
    handle = setTimeout(poll, 0)
    return Effect.sync(() => clearTimeout(handle))
  })

  const peerEnded: Effect.Effect<void> = Effect.zipRight(
    settled,
    Effect.sync(() => {
      closedByPeer = true
      hooks.onPeerClosed()
    })
  )

  const waitRelease: Effect.Effect<void> = changed.await(() => (released || !enabled) ? Effect.void : undefined)

  const afterRelease: Effect.Effect<Option.Option<Uint8Array>> = Effect.zipRight(
    waitRelease,
    Effect.sync(() => {
      const bytes = withheld!.reduce(concat, new Uint8Array(0))
      withheld = undefined
      enabled = false
      return Option.some(bytes)
    })
  )

  const read: Effect.Effect<Option.Option<Uint8Array>, Transport.TransportError> = Effect.suspend(() => {
    if (withheld !== undefined) return closedByPeer ? afterRelease : Effect.zipRight(peerEnded, afterRelease)
    if (!enabled) {
      if (held.length > 0) {
        const rest = held
        held = new Uint8Array(0)
        return Effect.succeed(Option.some(rest))
      }
      return underlying.read
    }
    if (mustSettle) return Effect.zipRight(settled, judgeHeld)
    return Effect.flatMap(underlying.read, (chunk) => {
      if (Option.isNone(chunk)) {
        if (held.length > 0) {
          // a partial record before the end: node:tls reports it
          const rest = held
          held = new Uint8Array(0)
          enabled = false
          return Effect.succeed(Option.some(rest))
        }
        return Effect.succeed(chunk)
      }
      held = concat(held, chunk.value)
      return judgeHeld
    })
  })

  const judgeHeld: Effect.Effect<Option.Option<Uint8Array>, Transport.TransportError> = Effect.suspend(() => {
    const { out, stop } = step()
    if (stop === "withhold") {
      // the close_notify and whatever follows wait; what preceded it goes on first
      withheld = [held]
      held = new Uint8Array(0)
    }
    return out.length > 0 ? Effect.succeed(Option.some(out)) : read
  })

  const transport = Transport.make({
    read,
    write: underlying.write,
    shutdownWrite: underlying.shutdownWrite,
    description: underlying.description
  })

  return {
    transport,
    onKeylog,
    peerClosed: () => closedByPeer,
    release: () => {
      released = true
      changed.notify()
    },
    disable
  }
}
