/**
 * A peer process for interop tests (`openssl s_server`, `gnutls-cli`, ...), as a scoped
 * resource: spawned with `node:child_process`, its stdout and stderr captured, ready when a
 * pattern shows up in its output (bounded in time), and stopped by PID when the scope
 * closes (SIGTERM, then SIGKILL after a grace period). The finalizer checks that the process
 * is gone and dies otherwise, so a leaked peer fails the test that started it.
 *
 * Should the test process itself die (a killed vitest worker runs no finalizer), the peer
 * goes with it: it is started through util-linux's `setpriv --pdeathsig KILL`, which sets the
 * parent-death signal and execs the peer (same PID).
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

export class PeerError extends Data.TaggedError("PeerError")<{
  readonly reason: "Spawn" | "Timeout" | "Exited" | "Stdin" | "Port"
  readonly command: string
  readonly detail: string
  readonly output: string
  readonly cause?: unknown
}> {
  override get message(): string {
    const output = this.output.length > 6000 ? `[...]\n${this.output.slice(-6000)}` : this.output
    return `${this.command}: ${this.reason}: ${this.detail}\n--- output ---\n${output}`
  }
}

export interface Exited {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

export interface SpawnOptions {
  /** The peer is ready when its output (stdout and stderr) matches this. */
  readonly ready?: RegExp | undefined
  /** Bound on the wait for `ready` (default 10 s). */
  readonly readyTimeout?: Duration.DurationInput | undefined
  /** Between SIGTERM and SIGKILL in the finalizer (default 300 ms). */
  readonly grace?: Duration.DurationInput | undefined
  readonly cwd?: string | undefined
  /** Start through `setpriv --pdeathsig KILL` when it is installed (default `true`). */
  readonly killWithParent?: boolean | undefined
}

export interface Peer {
  readonly command: string
  readonly pid: number
  /** The match of `ready`, when it was given. */
  readonly readyMatch: RegExpExecArray | undefined
  /** stdout and stderr so far, interleaved in arrival order. */
  readonly output: Effect.Effect<string>
  /** stdout alone so far. */
  readonly stdout: Effect.Effect<string>
  /** Waits until the output matches `pattern` (default bound 10 s); fails if the peer exits first. */
  readonly waitFor: (pattern: RegExp, timeout?: Duration.DurationInput) => Effect.Effect<RegExpExecArray, PeerError>
  /** Writes to the peer's stdin. */
  readonly write: (text: string) => Effect.Effect<void, PeerError>
  /** Closes the peer's stdin (EOF). */
  readonly endInput: Effect.Effect<void>
  /** Sends a signal to the peer's PID. */
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** Waits for the peer to exit (default bound 10 s). */
  readonly exited: (timeout?: Duration.DurationInput) => Effect.Effect<Exited, PeerError>
}

/** Sends a signal to a PID; a process that is already gone is no error. */
const signal = (pid: number, name: NodeJS.Signals): void => {
  try {
    process.kill(pid, name)
  } catch {
    // ESRCH: already gone
  }
}

/** `true` while a process with this PID exists (signal 0 probes without signalling). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** The executable `command` resolves to on PATH, if any. */
export const which = (command: string): string | undefined => {
  if (command.includes("/")) return command
  for (const directory of (process.env.PATH ?? "").split(Path.delimiter)) {
    if (directory === "") continue
    const candidate = Path.join(directory, command)
    try {
      Fs.accessSync(candidate, Fs.constants.X_OK)
      return candidate
    } catch {
      // not here
    }
  }
  return undefined
}

export const spawn = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<Peer, PeerError, Scope.Scope> =>
  Effect.gen(function*() {
    const name = [command, ...args.slice(0, 1)].join(" ")
    let output = ""
    let stdout = ""
    let exit: Exited | undefined = undefined
    const waiters = new Set<() => void>()
    const wake = () => {
      for (const waiter of [...waiters]) waiter()
    }
    const fail = (reason: PeerError["reason"], detail: string, cause?: unknown) =>
      new PeerError({ reason, command: name, detail, output, cause })

    /**
     * Waits until `check` returns a result, re-checking on every output chunk and on exit. The
     * bound is a timer inside the async (not `Effect.timeout`), so that it also holds in the
     * finalizer, where nothing can be interrupted.
     */
    const waitUntil = <A>(check: () => Effect.Effect<A, PeerError> | undefined, timeout: Duration.DurationInput) =>
      Effect.async<A, PeerError>((resume) => {
        const first = check()
        if (first !== undefined) return resume(first)
        const done = (result: Effect.Effect<A, PeerError>) => {
          waiters.delete(waiter)
          clearTimeout(timer)
          resume(result)
        }
        const waiter = () => {
          const result = check()
          if (result !== undefined) done(result)
        }
        const millis = Duration.toMillis(Duration.decode(timeout))
        const timer = setTimeout(
          () => done(Effect.fail(fail("Timeout", `nothing within ${Duration.format(Duration.decode(timeout))}`))),
          millis
        )
        waiters.add(waiter)
        return Effect.sync(() => {
          waiters.delete(waiter)
          clearTimeout(timer)
        })
      })

    const executable = which(command)
    if (executable === undefined) return yield* fail("Spawn", `${command} is not installed (not found on PATH)`)
    const setpriv = options.killWithParent === false ? undefined : which("setpriv")
    const [file, argv] = setpriv === undefined
      ? [executable, [...args]]
      : [setpriv, ["--pdeathsig", "KILL", "--", executable, ...args]]

    const child = yield* Effect.acquireRelease(
      Effect.async<ChildProcess.ChildProcessWithoutNullStreams, PeerError>((resume) => {
        const child = ChildProcess.spawn(file, argv, {
          cwd: options.cwd,
          stdio: ["pipe", "pipe", "pipe"],
          env: { ...process.env, LC_ALL: "C" }
        })
        child.stdin.on("error", () => {})
        child.stdout.setEncoding("latin1")
        child.stderr.setEncoding("latin1")
        child.stdout.on("data", (chunk: string) => {
          stdout += chunk
          output += chunk
          wake()
        })
        child.stderr.on("data", (chunk: string) => {
          output += chunk
          wake()
        })
        child.once("exit", (code, signal) => {
          exit = { code, signal }
          wake()
        })
        child.once("spawn", () => {
          child.off("error", onError)
          child.on("error", () => {})
          resume(Effect.succeed(child))
        })
        const onError = (cause: Error) => resume(Effect.fail(fail("Spawn", `cannot start ${command}`, cause)))
        child.once("error", onError)
      }),
      (child) =>
        Effect.gen(function*() {
          const pid = child.pid!
          const hasExited = () => (exit !== undefined ? Effect.void : undefined)
          if (exit === undefined) {
            signal(pid, "SIGTERM")
            const grace = options.grace ?? "300 millis"
            const gone = yield* Effect.option(waitUntil(hasExited, grace))
            if (gone._tag === "None") {
              signal(pid, "SIGKILL")
              yield* Effect.orDie(waitUntil(hasExited, "5 seconds"))
            }
          }
          child.stdin.destroy()
          child.stdout.destroy()
          child.stderr.destroy()
          if (isAlive(pid)) {
            return yield* Effect.dieMessage(`${name} (pid ${pid}) is still running after SIGKILL`)
          }
        })
    )

    const peer: Peer = {
      command: name,
      pid: child.pid!,
      readyMatch: undefined,
      output: Effect.sync(() => output),
      stdout: Effect.sync(() => stdout),
      waitFor: (pattern, timeout = "10 seconds") =>
        waitUntil(() => {
          const match = pattern.exec(output)
          if (match !== null) return Effect.succeed(match)
          if (exit !== undefined) {
            return Effect.fail(fail("Exited", `exited (${exit.code ?? exit.signal}) before printing ${pattern}`))
          }
          return undefined
        }, timeout),
      write: (text) =>
        Effect.async<void, PeerError>((resume) => {
          if (exit !== undefined || !child.stdin.writable) {
            return resume(Effect.fail(fail("Stdin", "the peer's stdin is closed")))
          }
          child.stdin.write(
            text,
            (error) => resume(error ? Effect.fail(fail("Stdin", "cannot write to stdin", error)) : Effect.void)
          )
        }),
      endInput: Effect.sync(() => {
        child.stdin.end()
      }),
      kill: (name) =>
        Effect.sync(() => {
          if (exit === undefined) signal(child.pid!, name)
        }),
      exited: (timeout = "10 seconds") =>
        waitUntil(() => (exit !== undefined ? Effect.succeed(exit) : undefined), timeout)
    }
    if (options.ready === undefined) return peer
    const readyMatch = yield* peer.waitFor(options.ready, options.readyTimeout ?? "10 seconds")
    return { ...peer, readyMatch }
  })

/**
 * A TCP port that was free a moment ago on 127.0.0.1 (for peers that cannot report the port
 * they bound, such as `gnutls-serv -p 0`).
 */
export const freePort: Effect.Effect<number, PeerError> = Effect.async<number, PeerError>((resume) => {
  const server = Net.createServer()
  server.once(
    "error",
    (cause) =>
      resume(Effect.fail(new PeerError({ reason: "Port", command: "net", detail: "no free port", output: "", cause })))
  )
  server.listen({ host: "127.0.0.1", port: 0 }, () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
  return Effect.sync(() => {
    server.close()
  })
})
