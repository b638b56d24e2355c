/**
 * The parent's side of the two child processes (the client end and the server end of
 * every measurement): fork with `--expose-gc` under tsx, ask, await the answer.
 */
import { type ChildProcess, fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Metrics, Op, Reply, Requests } from "./protocol.js"

export interface Child {
  readonly call: <K extends Op>(op: K, args: Requests[K], timeoutMs?: number) => Promise<Metrics>
  readonly kill: () => void
}

const benchDir = fileURLToPath(new URL("..", import.meta.url))

export const spawnChild = (name: string): Child => {
  const child: ChildProcess = fork(fileURLToPath(new URL("child.ts", import.meta.url)), [], {
    cwd: benchDir,
    execArgv: ["--import", "tsx", "--expose-gc"],
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
