/** @internal */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as AcceptCertificate from "../AcceptCertificate.js"
import * as Certificate from "../Certificate.js"
import * as CertificateFlags from "../CertificateFlags.js"
import * as ChannelBinding from "../ChannelBinding.js"
import * as Condition from "../Condition.js"
import type { HandshakeInfo } from "../HandshakeInfo.js"
import * as ProtocolVersion from "../ProtocolVersion.js"
import type { EngineConfig, EngineConnection, EngineHandshake } from "../TlsBackend.js"
import type { CommonOptions, TlsConnection } from "../TlsConnection.js"
import { defaultCloseTimeout, TypeId } from "../TlsConnection.js"
import type { TlsDatabaseShape } from "../TlsDatabase.js"
import * as TlsError from "../TlsError.js"
import type { Transport } from "../Transport.js"
import { engineFlagsAtClockTime } from "./clockTime.js"
import * as deadline from "./deadline.js"
import type { Deadline } from "./deadline.js"
import * as telemetry from "./telemetry.js"

/** @internal */
export const defaultTimeout = Duration.seconds(30)

/**
 * No ALPN protocols: one array for every connection whose options name none (read only).
 *
 * @internal
 */
export const noAlpn: ReadonlyArray<string> = []

/**
 * A handshake or policy timeout from the options: the default, a Duration already, when none
 * is given (no decode per connection).
 *
 * @internal
 */
export const timeoutOf = (input: Duration.DurationInput | undefined): Duration.Duration =>
  input === undefined ? defaultTimeout : Duration.decode(input)

/** @internal */
export interface ConnectionParams {
  readonly side: "client" | "server"
  readonly engine: EngineConnection
  readonly transport: Transport
  readonly database: TlsDatabaseShape
  readonly policy: AcceptCertificate.Policy
  readonly identity: Option.Option<string>
  /** Client: the SNI sent (the server's comes from the engine). */
  readonly serverName?: Option.Option<string> | undefined
  readonly clientAuth: "none" | "requested" | "required"
  readonly handshakeTimeout: Duration.Duration
  readonly policyTimeout: Duration.Duration
  /**
   * The engine's `abort` ends its pending handshake (a failure), so the handshake timeout
   * needs no fiber of its own (see `deadline.ts`). Not so for an engine still to be made
   * (a server reading the ClientHello first): there the timeout races in fibers.
   */
  readonly abortEndsHandshake: boolean
}

type HandshakeState =
  | { readonly _tag: "Idle" }
  // callers that come while it runs wait on a condition, made for the first of them
  | { readonly _tag: "Running"; waiters: Condition.Condition | undefined }
  | { readonly _tag: "Done"; readonly exit: Exit.Exit<HandshakeInfo, TlsError.TlsError> }

/** `defaultCloseTimeout` decoded once (not parsed again for every connection). */
const defaultCloseDuration = Duration.decode(defaultCloseTimeout)

/**
 * An engine's config: the settings both sides take from their options as they are, then the
 * side's own fields (`own`, a literal), added to the same object in a fixed order (every
 * connection's config has one shape; a spread of the settings into a literal with more fields
 * after it built the config field by field on every connection).
 *
 * @internal
 */
export const engineConfig = <Own extends object>(
  options: Omit<CommonOptions, "certificate">,
  transport: Transport,
  database: TlsDatabaseShape,
  own: Own
): Omit<EngineConfig, "certificate" | "alpn"> & Own =>
  Object.assign({
    transport,
    minVersion: options.minVersion ?? ProtocolVersion.defaultMinimum,
    maxVersion: Option.fromNullable(options.maxVersion),
    ciphers: Option.fromNullable(options.ciphers),
    database,
    requireCloseNotify: options.requireCloseNotify ?? true,
    closeTimeout: options.closeTimeout === undefined ? defaultCloseDuration : Duration.decode(options.closeTimeout)
  }, own)

/**
 * Parses the peer's chain once (no Effect per certificate: the same chain again is a hit of
 * x509's cache of parsed certificates); certificates that cannot be read are left out and flagged.
 */
const parseChain = (ders: ReadonlyArray<Uint8Array>) => {
  const chain: Array<Certificate.Certificate> = []
  for (const der of ders) {
    const parsed = Certificate.fromDerEither(der)
    if (Either.isRight(parsed)) chain.push(parsed.right)
  }
  return { chain, malformed: chain.length < ders.length }
}

/** Our verifier's flags, the engine's, and `GenericError` for a chain that could not be read. */
const allFlags = (
  ours: CertificateFlags.CertificateFlags,
  engines: CertificateFlags.CertificateFlags,
  unreadable: boolean
): CertificateFlags.CertificateFlags => {
  if (engines.size === 0 && !unreadable) return ours
  const flags = new Set(ours)
  for (const flag of engines) flags.add(flag)
  if (unreadable) flags.add("GenericError")
  return flags
}

/**
 * Runs the policy, bounded by `timeout` and by the handshake's deadline. A policy that
 * answers at once (an `Exit`, as `Effect.succeed` is) needs no timer: that skips the two
 * fibers a timeout forks.
 */
const decide = (
  policy: AcceptCertificate.Policy,
  context: AcceptCertificate.AcceptContext,
  params: ConnectionParams,
  deadline: Deadline
): Effect.Effect<boolean, TlsError.TlsError> => {
  const decision = policy(context)
  if (Exit.isExit(decision)) return decision
  const { policyTimeout, side } = params
  const left = deadline.at === undefined ? Infinity : Math.max(0, deadline.at - Date.now())
  if (left < Duration.toMillis(policyTimeout)) {
    return Effect.timeoutFail(decision, {
      duration: Duration.millis(left),
      onTimeout: () => handshakeTimeoutError(params)
    })
  }
  return Effect.timeoutFail(decision, {
    duration: policyTimeout,
    onTimeout: () => new TlsError.TlsTimeoutError({ operation: "accept-certificate", timeout: policyTimeout, side })
  })
}

const handshakeTimeoutError = (params: ConnectionParams) =>
  new TlsError.TlsTimeoutError({ operation: "handshake", timeout: params.handshakeTimeout, side: params.side })

// The handshake's steps, made once per module rather than once per connection (an idle
// connection keeps only what it uses afterwards).

const infoOf = (
  params: ConnectionParams,
  raw: EngineHandshake,
  peerCertificate: Option.Option<Certificate.CertificateChain>,
  peerCertificateErrors: CertificateFlags.CertificateFlags
): HandshakeInfo => {
  const side = params.side
  return {
    side,
    protocolVersion: raw.protocolVersion,
    ciphersuiteName: raw.ciphersuiteName,
    negotiatedProtocol: raw.negotiatedProtocol,
    serverIdentity: side === "client" ? params.identity : Option.none(),
    serverName: side === "client" ? (params.serverName ?? Option.none()) : raw.serverName,
    resumed: raw.resumed,
    acceptedCas: Option.none(),
    peerCertificate,
    peerCertificateErrors
  }
}

const refused = (
  params: ConnectionParams,
  flags: CertificateFlags.CertificateFlags,
  chain: Certificate.CertificateChain
) =>
  Effect.fail(
    new TlsError.TlsBadCertificateError({
      flags,
      peerCertificate: chain,
      identity: Option.getOrUndefined(params.identity),
      side: params.side
    })
  )

/** `effect`'s success fed to `f`, in place when it is an `Exit` already (no Effect step). */
const andThen = <A, B, E>(
  effect: Effect.Effect<A, E>,
  f: (a: A) => Effect.Effect<B, E>
): Effect.Effect<B, E> =>
  Exit.isExit(effect)
    ? (Exit.isSuccess(effect) ? f(effect.value as A) : effect as Exit.Exit<never, E>)
    : Effect.flatMap(effect, f)

/**
 * Verification and the policy. With no `time`, on the `Clock` with spans (`telemetry`): the
 * database reads the `Clock`, and the engine's validity flags stand as far as the `Clock` is
 * the wall clock (`engineFlagsAtClockTime`). With `time` (ms, the live clock's now, no tracer
 * installed): the same checks at that time, with no span, composed in place, so that a
 * verdict-cache hit and a policy that answers at once (both `Exit`s) make an `Exit` with no
 * Effect step (the live clock reads the wall clock, so the engine's flags stand).
 */
const verify = (
  params: ConnectionParams,
  raw: EngineHandshake,
  deadline: Deadline,
  time?: number | undefined
): Effect.Effect<HandshakeInfo, TlsError.TlsError> => {
  const side = params.side
  if (raw.peerCertificates.length === 0) {
    if (side === "server" && params.clientAuth !== "required") {
      return Effect.succeed(infoOf(params, raw, Option.none(), CertificateFlags.empty))
    }
    if (side === "server") return Effect.fail(new TlsError.TlsCertificateRequiredError({ acceptedCas: [], side }))
    return refused(params, CertificateFlags.make("GenericError"), [])
  }
  const direct = time !== undefined
  const { chain, malformed } = parseChain(raw.peerCertificates)
  const purpose = side === "client" ? "server" : "client"
  const identity = side === "client" ? Option.getOrUndefined(params.identity) : undefined
  // (each options object one literal: a spread of one into another builds it field by field)
  const verified = chain.length === 0
    ? Effect.succeed(CertificateFlags.empty)
    : direct
    ? params.database.verifyChain(chain, { purpose, identity, time: new Date(time) })
    : telemetry.verifyChain(chain.length, params.database.verifyChain(chain, { purpose, identity }))
  return andThen(
    verified,
    (ours) =>
      andThen(direct ? Effect.succeed(raw.engineFlags) : engineFlagsAtClockTime(raw.engineFlags), (engines) => {
        // (an engine's unspecific rejection is explained by any flag of ours)
        const flags = allFlags(
          ours,
          raw.engineVerdictUnspecific === true && ours.size > 0
            ? CertificateFlags.difference(engines, ["GenericError"])
            : engines,
          malformed || chain.length === 0
        )
        const decision = decide(params.policy, { chain, flags, identity: params.identity, side }, params, deadline)
        return andThen(
          direct ? decision : telemetry.policy(flags, decision),
          (accepted) =>
            accepted ? Effect.succeed(infoOf(params, raw, Option.some(chain), flags)) : refused(params, flags, chain)
        )
      })
  )
}

const attachAcceptedCas = (raw: EngineHandshake, info: HandshakeInfo) =>
  Option.match(raw.acceptedCas, {
    onNone: () => Effect.succeed(info),
    onSome: (ders) =>
      Effect.map(
        Effect.forEach(ders, (der) => Effect.option(Certificate.nameFromDer(der))),
        (names): HandshakeInfo => ({ ...info, acceptedCas: Option.some(names.flatMap(Option.toArray)) })
      )
  })

/** The whole handshake (engine, verification, policy) under its timeout and telemetry. */
const runHandshake = (params: ConnectionParams, onEngineHandshake: (raw: EngineHandshake) => void) =>
  telemetry.handshake(
    params,
    deadline.within(params.handshakeTimeout, {
      onTimeout: () => handshakeTimeoutError(params),
      wake: params.abortEndsHandshake ? params.engine.abort : undefined
    }, (limit) =>
      Effect.flatMap(params.engine.handshake, (raw) => {
        onEngineHandshake(raw)
        return Effect.flatMap(verify(params, raw, limit), (info) => attachAcceptedCas(raw, info))
      }))
  )

const interrupted: Exit.Exit<never, never> = Exit.failCause(Cause.interrupt(FiberId.none))

// built only when a handshake was interrupted: no error objects on the success path
const closedByInterrupt = (side: TlsError.Side) =>
  Exit.fail(new TlsError.TlsGenericError({ reason: "Closed", detail: "the handshake was interrupted", side }))

/** @internal */
export const make = (params: ConnectionParams): TlsConnection => {
  const { engine, side } = params
  let state: HandshakeState = { _tag: "Idle" }
  /**
   * The handshake succeeded (set with `state`): what every read and write asks, one boolean
   * (asking `state`, of three shapes, deoptimized the readers when a process saw them in turn).
   */
  let open = false
  const handshakeDone = (exit: Exit.Exit<HandshakeInfo, TlsError.TlsError>) => {
    state = { _tag: "Done", exit }
    open = Exit.isSuccess(exit)
  }
  /** The engine's report of the handshake, kept for channel binding. */
  let engineHandshake: EngineHandshake | undefined = undefined

  /** The general handshake: spans, any clock, any engine (`runHandshake`). */
  const generalHandshake = (running: HandshakeState & { _tag: "Running" }) =>
    Effect.onExit(runHandshake(params, (raw) => (engineHandshake = raw)), (exit) => {
      const final = Exit.isInterrupted(exit) ? closedByInterrupt(side) : exit
      handshakeDone(final)
      const wake = running.waiters === undefined ? Effect.void : Effect.sync(running.waiters.notify)
      return Exit.isSuccess(final) ? wake : Effect.zipRight(engine.abort, wake)
    })

  /**
   * The handshake in one `Effect.async`, under the live clock with no tracer installed and an
   * engine that offers `awaitHandshake`: the handshake's timeout is a plain timer (as
   * `deadline.within`'s), verification and the policy run in place when they answer at once
   * (`verify` at the live clock's time), and the metrics are recorded as `telemetry.handshake` records them. What
   * does not answer at once (a policy that asks someone, a database that loads) continues as
   * an Effect, under the same timer.
   */
  const directHandshake = (
    running: HandshakeState & { _tag: "Running" },
    clock: Clock.Clock,
    awaitEngine: NonNullable<EngineConnection["awaitHandshake"]>
  ) =>
    Effect.async<HandshakeInfo, TlsError.TlsError>((resume) => {
      // the engine first, where it can start without waiting (`EngineConnection.start`): a
      // server's socket then reads the ClientHello, a client's sends it, before the timer and
      // the callbacks below are made (time to first byte)
      engine.start?.()
      const start = clock.unsafeCurrentTimeNanos()
      const millis = Duration.toMillis(params.handshakeTimeout)
      let timedOut = false
      const timer = deadline.startTimer(millis, () => {
        timedOut = true
        Effect.runFork(engine.abort)
      })
      const limit = timer.deadline
      let ended = false
      /** The handshake's end: its exit as the caller sees it, its metrics, the connection's state. */
      const end = (exit: Exit.Exit<HandshakeInfo, TlsError.TlsError>): Exit.Exit<HandshakeInfo, TlsError.TlsError> => {
        ended = true
        timer.clear()
        const final = timedOut && !Exit.isInterrupted(exit) ? Exit.fail(handshakeTimeoutError(params)) : exit
        telemetry.endMetrics(side, Number(clock.unsafeCurrentTimeNanos() - start) / 1e9, final)
        const done = Exit.isInterrupted(final) ? closedByInterrupt(side) : final
        handshakeDone(done)
        return done
      }
      const wake = () => running.waiters?.notify()
      /** After a failure: the engine torn down, then the waiters woken. */
      const failed = (exit: Exit.Exit<HandshakeInfo, TlsError.TlsError>) =>
        Effect.zipRight(Effect.uninterruptible(Effect.zipRight(engine.abort, Effect.sync(wake))), exit)
      const settle = (exit: Exit.Exit<HandshakeInfo, TlsError.TlsError>) => {
        const done = end(exit)
        if (Exit.isSuccess(done)) {
          wake()
          resume(done)
        } else resume(failed(done))
      }
      /** The rest of the handshake as an Effect, when a step of it does not answer at once. */
      const continued = (rest: Effect.Effect<HandshakeInfo, TlsError.TlsError>) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(Effect.exit(restore(rest)), (exit) => {
            const done = end(exit)
            // (an interruption stays one for the caller; the connection records it as closed)
            if (Exit.isFailure(done)) return failed(Exit.isInterrupted(exit) ? exit : done)
            wake()
            return done
          })
        )
      const verified = (raw: EngineHandshake) => {
        engineHandshake = raw
        return andThen(
          verify(params, raw, limit, clock.unsafeCurrentTimeMillis()),
          (info) => attachAcceptedCas(raw, info)
        )
      }
      // (called on the engine: an engine may offer it as a method)
      const stop = awaitEngine.call(engine, (result) => {
        if (ended) return
        // (this runs in the engine's event handler: a policy or database that throws is a
        // defect of the handshake, as inside an Effect, never an exception of the handler)
        let next: Effect.Effect<HandshakeInfo, TlsError.TlsError>
        try {
          next = andThen(result, verified)
        } catch (defect) {
          next = Exit.die(defect)
        }
        if (Exit.isExit(next)) settle(next as Exit.Exit<HandshakeInfo, TlsError.TlsError>)
        else resume(continued(next))
      })
      return Effect.suspend(() => {
        stop()
        if (ended) return Effect.void
        end(interrupted)
        return Effect.zipRight(engine.abort, Effect.sync(wake))
      })
    })

  const handshake: Effect.Effect<HandshakeInfo, TlsError.TlsError> = Effect.withFiberRuntime((fiber) => {
    switch (state._tag) {
      case "Done":
        return state.exit
      case "Running":
        return (state.waiters ??= Condition.make()).await(() => state._tag === "Done" ? state.exit : undefined)
      case "Idle": {
        const running: HandshakeState & { _tag: "Running" } = { _tag: "Running", waiters: undefined }
        state = running
        const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
        const awaitEngine = engine.awaitHandshake
        return awaitEngine !== undefined && params.abortEndsHandshake && deadline.isLive(clock) &&
            telemetry.isNativeTracer(fiber.currentTracer)
          ? directHandshake(running, clock, awaitEngine)
          : generalHandshake(running)
      }
    }
  })

  // after a good handshake a read or write goes straight to the engine (no step through
  // `handshake` per chunk), begun at once where the engine can (`readNow`, `writeNow`): a
  // chunk that is there, or a write the engine takes without pushing back, then costs two
  // Effect steps (this `suspend` and the `Exit`), the metric counted in place
  const opened = () => open
  const countRead = telemetry.countRead(side)
  // (made on first use: an engine with `readNow` needs it only for a read before the handshake)
  let engineReadMemo: Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError> | undefined = undefined
  const engineRead = () => engineReadMemo ??= Effect.map(engine.read, countRead)
  const read = Effect.suspend(() => {
    if (!opened()) return Effect.zipRight(handshake, engineRead())
    if (engine.readNow === undefined) return engineRead()
    const now = engine.readNow()
    if (!Exit.isExit(now)) return Effect.map(now, countRead)
    const exit = now as Exit.Exit<Option.Option<Uint8Array>, TlsError.TlsError>
    if (Exit.isSuccess(exit)) countRead(exit.value)
    return exit
  })
  // a write's plaintext counted once accepted: at once when the engine answered at once
  const counted = (length: number, now: Effect.Effect<void, TlsError.TlsError>) => {
    if (!Exit.isExit(now)) return Effect.map(now, () => telemetry.countWritten(side, length))
    if (Exit.isSuccess(now)) telemetry.countWritten(side, length)
    return now
  }
  const write = (bytes: Uint8Array) =>
    Effect.suspend(() => {
      if (!opened()) return Effect.zipRight(handshake, telemetry.countWrite(side, bytes, engine.write(bytes)))
      if (engine.writeNow === undefined) return telemetry.countWrite(side, bytes, engine.write(bytes))
      return counted(bytes.length, engine.writeNow(bytes))
    })
  // a sink's chunk: handed to the engine in one go where it can (`writeAllNow`), else element by element
  const writeAll = (chunk: Chunk.Chunk<Uint8Array>): Effect.Effect<void, TlsError.TlsError> => {
    const writeAllNow = engine.writeAllNow
    if (writeAllNow === undefined || chunk.length < 2) return Effect.forEach(chunk, write, { discard: true })
    const writes = Chunk.toReadonlyArray(chunk)
    const begin = Effect.suspend(() => {
      let bytes = 0
      for (const one of writes) bytes += one.length
      return counted(bytes, writeAllNow.call(engine, writes))
    })
    return opened() ? begin : Effect.zipRight(handshake, begin)
  }

  const channelBinding = (type: ChannelBinding.ChannelBindingType) =>
    Effect.gen(function*() {
      const fail = (reason: ChannelBinding.Reason, detail: string, cause?: unknown) =>
        Effect.fail(new ChannelBinding.ChannelBindingError({ reason, type, side, detail, cause }))
      const info = yield* Effect.catchAll(
        handshake,
        (cause) => fail("InvalidState", "the handshake did not succeed", cause)
      )
      const raw = engineHandshake!
      const data = raw.channelBinding
      const tls13 = info.protocolVersion === "TLSv1.3"
      switch (type) {
        case "tls-unique": {
          if (tls13) return yield* fail("NotSupported", "TLS 1.3 has no tls-unique (RFC 8446 C.5); use tls-exporter")
          if (data === undefined) return yield* fail("NotImplemented", "the engine does not report Finished messages")
          // RFC 5929 §3.1: the first Finished of the handshake, the client's unless it was resumed
          const finished = (side === "client") !== info.resumed ? data.ownFinished : data.peerFinished
          if (Option.isNone(finished)) return yield* fail("NotAvailable", "the engine gave no Finished message")
          return finished.value.slice()
        }
        case "tls-server-end-point": {
          if (side === "client") {
            const leaf = Option.flatMap(info.peerCertificate, (chain) => Option.fromNullable(chain[0]))
            if (Option.isNone(leaf)) return yield* fail("NotSupported", "the server sent no certificate")
            return yield* ChannelBinding.serverEndPoint(leaf.value)
          }
          if (data === undefined) return yield* fail("NotImplemented", "the engine does not report our certificate")
          if (Option.isNone(data.ownCertificate)) return yield* fail("NotSupported", "we sent no certificate")
          const own = yield* Effect.catchAll(
            Certificate.fromDer(data.ownCertificate.value),
            (cause) => fail("GeneralError", "our certificate cannot be read", cause)
          )
          return yield* ChannelBinding.serverEndPoint(own)
        }
        case "tls-exporter": {
          // RFC 9266 §4.2: below TLS 1.3 only with the extended master secret (GnuTLS refuses too)
          if (!tls13) {
            const ems = data === undefined ? Option.none() : data.extendedMasterSecret
            if (Option.isNone(ems)) {
              return yield* fail("NotImplemented", "the engine does not tell whether extended master secret was used")
            }
            if (!ems.value) {
              return yield* fail("NotSupported", `${info.protocolVersion} without extended master secret (RFC 9266)`)
            }
          }
          // a zero-length context (not none: they differ on TLS 1.2), as GnuTLS
          return yield* Effect.catchAll(
            engine.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", new Uint8Array(0)),
            (cause) => fail("NotAvailable", "keying material export failed", cause)
          )
        }
      }
    })

  return new Connection(
    side,
    handshake,
    read,
    write,
    writeAll,
    // (after a good handshake straight to the engine, as `read` and `write` go)
    Effect.suspend(() => opened() ? engine.closeWrite : Effect.zipRight(handshake, engine.closeWrite)),
    Effect.suspend(() => {
      const flush = engine.flush ?? Effect.void
      return opened() ? flush : Effect.zipRight(handshake, flush)
    }),
    Effect.sync(() =>
      state._tag === "Done" && Exit.isSuccess(state.exit) ? Option.some(state.exit.value) : Option.none()
    ),
    (length, label, context) => Effect.zipRight(handshake, engine.exportKeyingMaterial(length, label, context)),
    channelBinding,
    params.transport,
    engine
  )
}

/** The most plaintext a stream's chunk gathers from what the engine holds (four full records). */
const STREAM_CHUNK_BYTES = 64 * 1024

/**
 * Where a connection keeps its engine's resumable session: not public, since a session holds
 * the resumption secret; `TlsClient`'s `resumeFrom` reads it.
 *
 * @internal
 */
export const SessionSymbol: unique symbol = Symbol.for("@effect-tls/core/TlsConnection/Session")

/**
 * The connection object. A class, so that the `stream` and `sink` accessors live on its
 * prototype: accessors in an object literal put every connection in dictionary mode (about
 * 0.8 KiB more per connection, and slower reads of `read` and `write`).
 */
class Connection implements TlsConnection {
  readonly [TypeId]: TypeId = TypeId
  private streamMemo: TlsConnection["stream"] | undefined = undefined
  private sinkMemo: TlsConnection["sink"] | undefined = undefined
  constructor(
    readonly side: "client" | "server",
    readonly handshake: TlsConnection["handshake"],
    readonly read: TlsConnection["read"],
    readonly write: TlsConnection["write"],
    /** A sink's chunk (`make`'s `writeAll`). */
    private readonly writeAll: (chunk: Chunk.Chunk<Uint8Array>) => Effect.Effect<void, TlsError.TlsError>,
    readonly closeWrite: TlsConnection["closeWrite"],
    readonly flush: TlsConnection["flush"],
    readonly info: TlsConnection["info"],
    readonly exportKeyingMaterial: TlsConnection["exportKeyingMaterial"],
    readonly channelBinding: TlsConnection["channelBinding"],
    readonly transport: Transport,
    private readonly engine: EngineConnection
  ) {}

  /** The engine's first resumable session (made when asked: a server's connection never is). */
  get [SessionSymbol](): Effect.Effect<Option.Option<Uint8Array>> {
    return Effect.map(this.engine.sessions, (sessions) => Option.fromNullable(sessions[0]))
  }

  // the stream and the sink are made on first use (most connections use one or neither)
  get stream(): TlsConnection["stream"] {
    return this.streamMemo ??= Stream.repeatEffectChunkOption(
      Effect.flatMap(
        Effect.mapError(this.read, Option.some),
        (first) => Option.isNone(first) ? Effect.fail(Option.none()) : Effect.succeed(this.withBuffered(first.value))
      )
    )
  }

  /**
   * A stream's chunk: `first`, and the plaintext the engine holds now besides (`readNow`, up to
   * `STREAM_CHUNK_BYTES`), so that a wait brings every record that came with it, not one. An
   * answer that is not plaintext (the end, a failure) stays for the next pull.
   */
  private withBuffered(first: Uint8Array): Chunk.Chunk<Uint8Array> {
    const engine = this.engine
    if (engine.readNow === undefined) return Chunk.of(first)
    let chunks: Array<Uint8Array> | undefined = undefined
    let bytes = first.length
    while (bytes < STREAM_CHUNK_BYTES) {
      const now = engine.readNow() as Effect.Effect<Option.Option<Uint8Array>, TlsError.TlsError>
      if (!Exit.isExit(now)) break
      const exit = now as Exit.Exit<Option.Option<Uint8Array>, TlsError.TlsError>
      if (!Exit.isSuccess(exit) || Option.isNone(exit.value)) break
      const chunk = exit.value.value
      telemetry.countBytesRead(this.side, chunk.length)
      if (chunks === undefined) chunks = [first]
      chunks.push(chunk)
      bytes += chunk.length
    }
    return chunks === undefined ? Chunk.of(first) : Chunk.unsafeFromArray(chunks)
  }

  // (a chunk in one go: node:tls encrypts its writes together, rather than one Effect and one
  // TLS write per element)
  get sink(): TlsConnection["sink"] {
    return this.sinkMemo ??= Sink.forEachChunk(this.writeAll)
  }
}

/** @internal */
export const sessionOf = (conn: TlsConnection): Effect.Effect<Option.Option<Uint8Array>> =>
  SessionSymbol in conn
    ? (conn as unknown as { readonly [SessionSymbol]: Effect.Effect<Option.Option<Uint8Array>> })[SessionSymbol]
    : Effect.succeed(Option.none())

/** @internal */
export const policyFor = (options: Pick<CommonOptions, "acceptCertificate">): Effect.Effect<AcceptCertificate.Policy> =>
  options.acceptCertificate !== undefined
    ? Effect.succeed(options.acceptCertificate)
    : AcceptCertificate.AcceptCertificate
