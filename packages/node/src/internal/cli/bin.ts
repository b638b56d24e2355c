#!/usr/bin/env tsx
/**
 * The `effect-tls` executable: runs the CLI on `process.argv` with Node's runtime and exits
 * with its code.
 *
 * @internal
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { run } from "./main.js"

NodeRuntime.runMain(
  Effect.flatMap(run(process.argv.slice(2)), (code) =>
    Effect.sync(() => {
      process.exitCode = code
    })).pipe(Effect.provide(NodeContext.layer)),
  {
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? Number(process.exitCode ?? 0) : 130)
  }
)
