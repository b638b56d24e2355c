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
import {
  cipherSuite,
  CT_ALERT,
  CT_APPLICATION_DATA,
  CT_CHANGE_CIPHER_SPEC,
  CT_HANDSHAKE,
  hkdfExpandLabel,
  openAead,
  type Tls13CipherSuite
} from "./tls13RecordProtection.js"

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
  /** The handshake chose this protocol: TLS 1.3 and 1.2 (AEAD suites) are followed, anything else passes. */
  readonly setProtocol: (version: string) => void
  /** The quiet turn after the withheld close_notify (`endedQuietly`). */
  quietCheck: "scheduled" | "quiet" | undefined
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

/** A TLS 1.2 AEAD suite the guard can read (RFC 5288 AES-GCM, RFC 7905 ChaCha20-Poly1305). */
interface Tls12Suite {
  readonly cipher: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305"
  readonly hash: "sha256" | "sha384"
  readonly keyLength: number
  /** 4 (GCM's implicit salt; the record carries 8 more) or 12 (ChaCha20's whole nonce). */
  readonly ivLength: number
}

const tls12Suite = (id: number): Tls12Suite | undefined => {
  switch (id) {
    case 0xc02b:
    case 0xc02f:
    case 0x009e:
    case 0x009c:
      return { cipher: "aes-128-gcm", hash: "sha256", keyLength: 16, ivLength: 4 }
    case 0xc02c:
    case 0xc030:
    case 0x009f:
    case 0x009d:
      return { cipher: "aes-256-gcm", hash: "sha384", keyLength: 32, ivLength: 4 }
    case 0xcca8:
    case 0xcca9:
    case 0xccaa:
      return { cipher: "chacha20-poly1305", hash: "sha256", keyLength: 32, ivLength: 12 }
    default:
      return undefined
  }
}

/** The TLS 1.2 PRF, P_hash (RFC 5246 §5). */
const prf12 = (hash: "sha256" | "sha384", secret: Buffer, label: string, seed: Buffer, length: number): Buffer => {
  const labelled = Buffer.concat([Buffer.from(label, "latin1"), seed])
  const out: Array<Buffer> = []
  let total = 0
  let a: Buffer = labelled
  while (total < length) {
    a = Crypto.createHmac(hash, secret).update(a).digest()
    const block = Crypto.createHmac(hash, secret).update(a).update(labelled).digest()
    out.push(block)
    total += block.length
  }
  return Buffer.concat(out).subarray(0, length)
}

/** Decrypts one whole TLS 1.2 AEAD record at sequence number `at`; undefined when it does not authenticate. */
const open12 = (
  keys: { readonly suite: Tls12Suite; readonly key: Buffer; readonly iv: Buffer },
  record: Uint8Array,
  at: number
): Buffer | undefined => {
  const { iv, key, suite } = keys
  const explicit = suite.ivLength === 4 ? 8 : 0
  const plaintextLength = record.length - 5 - explicit - 16
  if (plaintextLength < 0) return undefined
  const sequence = Buffer.alloc(8)
  sequence.writeUInt32BE(Math.floor(at / 0x100000000), 0)
  sequence.writeUInt32BE(at >>> 0, 4)
  let nonce: Buffer
  if (explicit > 0) {
    nonce = Buffer.concat([iv, record.subarray(5, 5 + explicit)])
  } else {
    nonce = Buffer.from(iv)
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= sequence[i]!
  }
  const aad = Buffer.alloc(13)
  sequence.copy(aad, 0)
  aad[8] = record[0]!
  aad[9] = record[1]!
  aad[10] = record[2]!
  aad.writeUInt16BE(plaintextLength, 11)
  return openAead(
    suite.cipher,
    key,
    nonce,
    aad,
    record.subarray(5 + explicit, record.length - 16),
    record.subarray(record.length - 16)
  )
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

  // ---- TLS 1.2: alerts are records of their own type, decrypted with the key block's keys
  /** Which protocol the handshake chose: TLS 1.3 is assumed until the engine says otherwise. */
  let protocol: "unknown" | "TLSv1.3" | "TLSv1.2" = "unknown"
  let masterSecret: Buffer | undefined = undefined
  let clientRandom: Buffer | undefined = undefined
  let serverRandom: Buffer | undefined = undefined
  let serverSuite: number | undefined = undefined
  /** Sequence number of the peer's next record under its TLS 1.2 keys (from its ChangeCipherSpec on). */
  let seq12: number | undefined = undefined
  let keys12: { readonly suite: Tls12Suite; readonly key: Buffer; readonly iv: Buffer } | undefined = undefined

  const forget = () => {
    for (const buffer of [secret, masterSecret, keys12?.key, keys12?.iv]) buffer?.fill(0)
    secret = undefined
    masterSecret = undefined
    keys12 = undefined
  }

  const disable = () => {
    enabled = false
    forget()
    changed.notify()
  }

  const onKeylog = (line: Buffer) => {
    if (!enabled) return
    const [label, random, hex] = line.toString("latin1").trim().split(" ")
    if (hex === undefined || random === undefined || !/^[0-9a-fA-F]+$/.test(hex + random)) return
    if (label === peerLabel && secret === undefined) secret = Buffer.from(hex, "hex")
    if (label === "CLIENT_RANDOM") {
      // (a renegotiation gives a new one: the latest is the one in force)
      masterSecret?.fill(0)
      masterSecret = Buffer.from(hex, "hex")
      clientRandom = Buffer.from(random, "hex")
      keys12 = undefined
    }
  }

  /** The engine learnt the protocol at the end of the handshake. */
  const setProtocol = (version: string) => {
    if (version === "TLSv1.3") protocol = version
    else if (version === "TLSv1.2") {
      // (a suite the guard cannot read leaves every alert to node:tls)
      protocol = version
      secret?.fill(0)
      secret = undefined
    } else disable()
  }

  /** ServerHello: version(2) random(32) session_id<1> cipher_suite(2), after the record and message headers. */
  const readServerHello = (record: Uint8Array) => {
    if (serverRandom !== undefined || record.length < 5 + 4 + 2 + 32 + 1 || record[0] !== CT_HANDSHAKE) return
    if (record[5] !== 2) return
    const sessionIdLength = record[5 + 4 + 2 + 32]!
    const at = 5 + 4 + 2 + 32 + 1 + sessionIdLength
    if (record.length < at + 2) return
    serverRandom = Buffer.from(record.subarray(5 + 4 + 2, 5 + 4 + 2 + 32))
    serverSuite = (record[at]! << 8) | record[at + 1]!
  }

  const peerKeys12 = () => {
    if (keys12 !== undefined) return keys12
    const suite = serverSuite !== undefined ? tls12Suite(serverSuite) : undefined
    if (suite === undefined || masterSecret === undefined || clientRandom === undefined || serverRandom === undefined) {
      return undefined
    }
    const block = prf12(
      suite.hash,
      masterSecret,
      "key expansion",
      Buffer.concat([serverRandom, clientRandom]),
      2 * (suite.keyLength + suite.ivLength)
    )
    // client_write_key, server_write_key, client_write_IV, server_write_IV (AEAD suites have no MAC keys)
    const peerIsServer = side === "client" ? 1 : 0
    const key = Buffer.from(block.subarray(peerIsServer * suite.keyLength, (peerIsServer + 1) * suite.keyLength))
    const ivAt = 2 * suite.keyLength + peerIsServer * suite.ivLength
    const iv = Buffer.from(block.subarray(ivAt, ivAt + suite.ivLength))
    block.fill(0)
    keys12 = { suite, key, iv }
    return keys12
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
      const plain = openAead(
        with_.cipher as "aes-128-gcm",
        key,
        nonce,
        record.subarray(0, 5),
        record.subarray(5, record.length - 16),
        record.subarray(record.length - 16)
      )
      if (plain === undefined) return undefined
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
    if (opened.type === CT_ALERT && opened.content.length === 2 && opened.content[1] === 0 && hooks.writeOpen()) {
      return "withhold"
    }
    if (opened.type === CT_HANDSHAKE && hasKeyUpdate(opened.content)) {
      // the peer's next secret (RFC 8446 §7.2)
      const next = hkdfExpandLabel(suite!.hash, secret, "traffic upd", suite!.hashLength)
      secret.fill(0)
      secret = next
      seq = 0
    }
    return "pass"
  }

  /** Judges one whole TLS 1.2 alert record at sequence number `at`. */
  const judge12 = (record: Uint8Array, at: number): Verdict => {
    const keys = peerKeys12()
    if (keys === undefined) return "pass"
    const content = open12(keys, record, at)
    if (content === undefined) {
      // lost track: from now on node:tls sees everything as is
      disable()
      return "pass"
    }
    return content.length === 2 && content[1] === 0 && hooks.writeOpen() ? "withhold" : "pass"
  }

  /**
   * Splits `held` into what goes on now and what stays: the bytes to hand on (possibly empty)
   * and why it stopped there. A record that must be judged is read whole first.
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
      const whole = held.length - i >= 5 + length
      if (5 + length > MAX_RECORD) {
        // not TLS: node:tls says so
        disable()
        return cut(held.length, "none")
      }
      // the client learns the TLS 1.2 server random and suite from the ServerHello it receives
      if (type === CT_HANDSHAKE && side === "client" && serverRandom === undefined && seq12 === undefined) {
        if (!whole) return cut(i, "more")
        readServerHello(held.subarray(i, i + 5 + length))
      }
      // the sequence number of this record under the peer's TLS 1.2 keys, if any
      const at12 = seq12
      const stopAt = (stop: "more" | "settle" | "withhold") => {
        seq12 = at12
        return cut(i, stop)
      }
      if (type === CT_CHANGE_CIPHER_SPEC) seq12 = 0
      else if (seq12 !== undefined) seq12++
      if (type === CT_ALERT && at12 !== undefined && protocol !== "TLSv1.3") {
        // an alert after the peer's ChangeCipherSpec: TLS 1.2 (while the protocol is unknown, settle first)
        if (!whole) return stopAt("more")
        if (protocol === "unknown" && !mustSettle) {
          mustSettle = true
          return stopAt("settle")
        }
        mustSettle = false
        if (protocol === "TLSv1.2" && judge12(held.subarray(i, i + 5 + length), at12) === "withhold") {
          return stopAt("withhold")
        }
        if (!enabled) return cut(held.length, "none")
        i += 5 + length
        continue
      }
      const small = length <= MAX_SMALL_RECORD
      if (type !== CT_APPLICATION_DATA || protocol === "TLSv1.2" || (seq !== undefined && !small)) {
        if (type === CT_APPLICATION_DATA && seq !== undefined) seq++
        mustSettle = false
        passRemaining = 5 + length
        continue
      }
      if (!whole) return stopAt("more")
      if (seq === undefined && !mustSettle) {
        // first hand on what precedes it, so that node:tls can derive the keys it protects
        mustSettle = true
        return stopAt("settle")
      }
      mustSettle = false
      if (judge(held.subarray(i, i + 5 + length)) === "withhold") return stopAt("withhold")
      if (!enabled) return cut(held.length, "none")
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

  // the server learns the TLS 1.2 server random and suite from the ServerHello it sends
  const write = side === "server"
    ? (bytes: Uint8Array) => {
      if (serverRandom === undefined && enabled) readServerHello(bytes)
      return underlying.write(bytes)
    }
    : underlying.write

  // the synchronous fast path over the underlying one's: the bridge then waits in callbacks, not
  // in a fiber (an idle connection holds none); whatever must wait on the guard itself (a record
  // to settle, a withheld close_notify) goes through `read`
  const fast = Transport.immediate(underlying)
  const immediate: Transport.Immediate | undefined = fast === undefined ? undefined : {
    read: () => {
      if (withheld !== undefined || mustSettle) return undefined
      if (!enabled) {
        if (held.length === 0) return fast.read()
        const rest = held
        held = new Uint8Array(0)
        return rest
      }
      while (true) {
        const now = fast.read()
        if (now === "wait" || now === undefined) return now
        if (now === null) {
          if (held.length === 0) return null
          // a partial record before the end: node:tls reports it
          const rest = held
          held = new Uint8Array(0)
          enabled = false
          return rest
        }
        held = concat(held, now)
        const { out, stop } = step()
        if (stop === "withhold") {
          withheld = [held]
          held = new Uint8Array(0)
        }
        if (out.length > 0) return out
        if (stop === "withhold" || stop === "settle" || !enabled) return undefined
      }
    },
    write: side === "server"
      ? (bytes, handedOver) => {
        if (serverRandom === undefined && enabled) readServerHello(bytes)
        return fast.write(bytes, handedOver)
      }
      : fast.write,
    whenReadable: fast.whenReadable,
    whenWritable: fast.whenWritable
  }

  const transport = Transport.make({
    read,
    write,
    shutdownWrite: underlying.shutdownWrite,
    description: underlying.description,
    immediate
  })

  return {
    transport,
    onKeylog,
    peerClosed: () => closedByPeer,
    release: () => {
      released = true
      changed.notify()
    },
    setProtocol,
    quietCheck: undefined
  }
}

/** What the quiet-end check reads of the connection (`endedQuietly`). */
export interface QuietReader {
  /** Plaintext chunks read from the peer so far. */
  readonly plaintextReads: number
  readonly socket: { readonly readableLength: number } | undefined
}

/**
 * The guard withheld the peer's close_notify after handing node:tls every record before it,
 * but Bun may still hold some of their plaintext (it stops decrypting while its readable
 * buffer is full, and resumes on the `read()` that found it empty). The end is reported only
 * once a read found nothing and a later turn brought nothing either: true then; false while
 * that turn is awaited (`notify` is called when it has passed).
 *
 * @internal
 */
export const endedQuietly = (guard: CloseNotifyGuard, reader: QuietReader, notify: () => void): boolean => {
  if (guard.quietCheck === "quiet") return true
  if (guard.quietCheck === undefined) {
    guard.quietCheck = "scheduled"
    const reads = reader.plaintextReads
    setImmediate(() =>
      setTimeout(() => {
        const socket = reader.socket!
        guard.quietCheck = reads === reader.plaintextReads && socket.readableLength === 0 ? "quiet" : undefined
        notify()
      }, 1)
    )
  }
  return false
}
