/**
 * The parent's side of the child processes (the client end and the server end of every
 * measurement): fork with `--expose-gc`, ask, await the answer.
 *
 * Each implementation has its own client and server process (`spawnEnds`), started for a row
 * and kept for its warm-up and rounds: raw node:tls and effect-tls never share a V8 heap or its compiled
 * code, as two deployments would not (sharing one process had node's own stream functions,
 * fed objects of both, deoptimize and recompile from variant to variant in the measured
 * rounds). The rounds still interleave the implementations.
 *
 * The children run one esbuild bundle of `child.ts` and the workspace sources, compiled the
 * way `pnpm build`'s output is (no `keepNames`): under tsx every function would carry a
 * `__name` call and property, which inflates the heap and CPU rows against what users run.
 * `BENCH_TSX=1` runs the sources under tsx instead. `BENCH_NODE_ARGS` adds node flags to every
 * child (space-separated, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the ends).
 */
import * as esbuild from "esbuild"
import { type ChildProcess, fork } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Pems } from "./material.js"
import type { Impl, Metrics, Op, Reply, Requests } from "./protocol.js"

export interface Child {
  readonly call: <K extends Op>(op: K, args: Requests[K], timeoutMs?: number) => Promise<Metrics>
  readonly kill: () => void
}

const benchDir = fileURLToPath(new URL("..", import.meta.url))
const childSource = fileURLToPath(new URL("child.ts", import.meta.url))
const underTsx = process.env.BENCH_TSX !== undefined && process.env.BENCH_TSX !== "" && process.env.BENCH_TSX !== "0"

const extraArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "")

let bundle: string | undefined

/** The child's bundle, built once per run into a fresh temporary folder (removed at exit). */
const bundled = (): string => {
  if (bundle !== undefined) return bundle
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-tls-bench-"))
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }))
  const outfile = path.join(dir, "child.mjs")
  esbuild.buildSync({
    entryPoints: [childSource],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    keepNames: false,
    logLevel: "warning",
    // CommonJS dependencies inside an ESM bundle call require
    banner: {
      js:
        "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
    }
  })
  bundle = outfile
  return outfile
}

export const spawnChild = (name: string): Child => {
  const child: ChildProcess = fork(underTsx ? childSource : bundled(), [], {
    cwd: benchDir,
    execArgv: [...(underTsx ? ["--import", "tsx", "--expose-gc"] : ["--expose-gc"]), ...extraArgs],
    stdio: ["ignore", "inherit", "inherit", "ipc"]
  })
  let next = 0
  const pending = new Map<number, { resolve: (m: Metrics) => void; reject: (e: Error) => void }>()
  child.on("message", (reply: Reply) => {
    const waiter = pending.get(reply.id)
    pending.delete(reply.id)
    if (waiter === undefined) return
    if ("ok" in reply) waiter.resolve(reply.ok)
    else waiter.reject(new Error(`${name}: ${reply.error}`))
  })
  child.on("exit", (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${name} exited (${code})`))
    pending.clear()
  })
  return {
    call: (op, args, timeoutMs = 300_000) =>
      new Promise<Metrics>((resolve, reject) => {
        const id = next++
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${name}: ${op} gave no answer in ${timeoutMs / 1000} s`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (m) => {
            clearTimeout(timer)
            resolve(m)
          },
          reject: (e) => {
            clearTimeout(timer)
            reject(e)
          }
        })
        child.send({ id, op, args })
      }),
    kill: () => {
      if (child.exitCode === null) child.kill()
    }
  }
}

/** One implementation's pair of processes. */
export interface Ends {
  readonly client: Child
  readonly server: Child
}

/**
 * A client and a server process for each implementation, initialised with the PKI's PEMs;
 * `kill` stops all of them.
 */
export const spawnEnds = async (pems: Pems): Promise<{
  readonly ends: (impl: Impl) => Ends
  readonly kill: () => void
}> => {
  const impls: ReadonlyArray<Impl> = ["raw", "effect"]
  const pairs = new Map<Impl, Ends>(
    impls.map((impl) => [impl, { client: spawnChild(`${impl} client`), server: spawnChild(`${impl} server`) }])
  )
  const all = [...pairs.values()].flatMap((pair) => [pair.client, pair.server])
  const kill = () => all.forEach((child) => child.kill())
  try {
    await Promise.all(all.map((child) => child.call("init", { pems })))
  } catch (error) {
    kill()
    throw error
  }
  return { ends: (impl) => pairs.get(impl)!, kill }
}
