// Runs effect-tls on Bun and Deno (pinned in runtimes/package.json, installed by
// `npm ci --prefix runtimes`): the demo, then the conformance suites, the interop tests and
// the hostile-input property tests under vitest on that runtime. Every failure must be one
// that runtimes/expected.json documents (a cell the README's support matrix marks
// unsupported, with its reason), and fail as documented: each entry names, besides the tests
// (`match`, over the test's full name), the documented outcome (`error`, over the failure's
// message, its stack left out: the typed error's tag and reason, or the assertion that shows
// the documented behaviour). A documented test that fails otherwise (a timeout, a crash, other
// bytes, another error) fails the run. Every documented failure must still happen: a runtime
// that got better, or worse, fails the run until the matrix says so. An entry marked
// `intermittent` (seen failing under load, not on every run) may also pass.
//
//   node runtimes/run.mjs [--list] [bun] [deno]   (both when none is named; --list names every
//                                                 failure, documented or not, with its message)
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { ensurePeers } from "../scripts/peers.mjs"

const here = path.dirname(new URL(import.meta.url).pathname)

// (the interop suites below spawn openssl and gnutls: installed first, as `pnpm test` does)
ensurePeers("runtimes/run.mjs")
const root = path.dirname(here)
const bin = (name) => path.join(here, "node_modules", ".bin", name)
const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs")

const runtimes = {
  bun: {
    script: (file) => [bin("bun"), [file]],
    vitest: (args) => [bin("bun"), ["--bun", vitest, "run", "--pool=forks", ...args]]
  },
  deno: {
    script: (file) => [bin("deno"), ["run", "-A", "--unstable-sloppy-imports", file]],
    vitest: (args) => [bin("deno"), ["run", "-A", "--unstable-sloppy-imports", vitest, "run", ...args]]
  }
}

const suites = [
  {
    dir: "packages/node",
    files: [
      "test/Runtimes.test.ts",
      "test/CloseNotifyGuard.test.ts",
      "test/TlsSuite.test.ts",
      "test/NodeTransport.test.ts",
      "test/PlatformSocket.test.ts",
      "test/Interop.test.ts",
      "test/Faults.test.ts",
      "test/ChannelBinding.test.ts",
      "test/Resumption.test.ts",
      "test/AcceptedCas.test.ts",
      "test/Engine.test.ts"
    ]
  },
  { dir: "packages/testkit", files: ["test/MemoryTransport.test.ts", "test/Verification.test.ts"] }
]

const expected = JSON.parse(fs.readFileSync(path.join(here, "expected.json"), "utf8"))
for (const [name, { failing }] of Object.entries(expected)) {
  for (const entry of failing) {
    if (typeof entry.match !== "string" || typeof entry.error !== "string" || typeof entry.reason !== "string") {
      throw new Error(`runtimes/expected.json: ${name}: an entry needs match, error and reason: ${JSON.stringify(entry)}`)
    }
  }
}

/** A failure's message without its stack (vitest's failureMessages hold both). */
const messageOf = (message) => {
  const lines = String(message ?? "").split("\n")
  const stack = lines.findIndex((line) => /^\s+at /.test(line))
  return (stack === -1 ? lines : lines.slice(0, stack)).join("\n").trim()
}

const run = (command, args, options) => {
  const started = Date.now()
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options })
  return { ...result, seconds: (Date.now() - started) / 1000 }
}

const problems = []
let totalPassed = 0
let totalFailed = 0

const checkDemo = (name, runtime) => {
  const [command, args] = runtime.script("src/demo.ts")
  const result = run(command, args, { cwd: path.join(root, "examples"), timeout: 120_000 })
  const out = `${result.stdout ?? ""}`
  const want = expected[name].demo
  const reply = /the server answered "([^"]*)"/.exec(out)?.[1]
  const rejected = out.includes("failed with TlsBadCertificateError") && /flags:\s+BadIdentity/.test(out)
  console.log(`${name}: demo (${result.seconds.toFixed(1)} s): reply ${JSON.stringify(reply)}, wrong host rejected: ${rejected}`)
  if (reply !== want.reply) problems.push(`${name}: the demo replied ${JSON.stringify(reply)}, the matrix says ${JSON.stringify(want.reply)}`)
  if (!rejected) problems.push(`${name}: the demo's wrong-host client was not rejected with BadIdentity`)
  if (reply !== want.reply || !rejected) console.log(out, result.stderr)
}

const checkSuites = (name, runtime) => {
  const failures = []
  for (const suite of suites) {
    const output = path.join(os.tmpdir(), `effect-tls-${name}-${path.basename(suite.dir)}-${process.pid}.json`)
    const [command, args] = runtime.vitest([...suite.files, "--reporter=json", `--outputFile=${output}`])
    const result = run(command, args, { cwd: path.join(root, suite.dir), timeout: 480_000 })
    let report
    try {
      report = JSON.parse(fs.readFileSync(output, "utf8"))
      fs.rmSync(output)
    } catch {
      problems.push(`${name}: vitest gave no report for ${suite.dir} (exit ${result.status}, ${result.signal ?? "no signal"})`)
      console.log(result.stdout?.slice(-4000), result.stderr?.slice(-4000))
      continue
    }
    let passed = 0
    for (const file of report.testResults) {
      const fileName = path.relative(root, file.name)
      if (file.assertionResults.length === 0) {
        failures.push({ name: `${fileName} (file)`, message: messageOf(file.message) })
      }
      for (const test of file.assertionResults) {
        if (test.status === "passed") passed++
        else {
          failures.push({
            name: `${fileName} > ${test.fullName}`,
            message: messageOf(test.failureMessages?.[0] ?? `not passed: ${test.status}`)
          })
        }
      }
    }
    totalPassed += passed
    console.log(`${name}: ${suite.dir} (${result.seconds.toFixed(1)} s): ${passed} passed, ${report.numTotalTests - passed} not passed`)
  }
  const documented = expected[name].failing.map((entry) => ({
    ...entry,
    regex: new RegExp(entry.match),
    outcome: new RegExp(entry.error),
    seen: 0
  }))
  const firstLine = (message) => message.split("\n")[0]
  for (const failure of failures) {
    const entries = documented.filter((e) => e.regex.test(failure.name))
    const entry = entries.find((e) => e.outcome.test(failure.message))
    if (list) console.log(`${name}: failed: ${failure.name}\n    ${firstLine(failure.message)}`)
    if (entries.length === 0) {
      problems.push(`${name}: undocumented failure: ${failure.name}\n    ${firstLine(failure.message)}`)
    } else if (entry === undefined) {
      problems.push(
        `${name}: a documented failure failed differently: ${failure.name}\n    ${failure.message.slice(0, 600)}\n` +
          `    documented (${entries[0].cell}): ${entries.map((e) => e.error).join(" | ")}`
      )
    } else entry.seen++
  }
  for (const entry of documented) {
    if (entry.seen === 0 && entry.intermittent === true) console.log(`${name}: intermittent failure did not occur this run, ${entry.cell}`)
    else if (entry.seen === 0) problems.push(`${name}: documented failure no longer happens (update the matrix): ${entry.match}`)
    else console.log(`${name}: ${entry.seen} expected failure(s), ${entry.cell} (${entry.error}): ${entry.reason}`)
  }
  totalFailed += failures.length
}

const list = process.argv.includes("--list")
const named = process.argv.slice(2).filter((arg) => arg !== "--list")
const names = named.length > 0 ? named : Object.keys(runtimes)
for (const name of names) {
  const runtime = runtimes[name]
  if (runtime === undefined) throw new Error(`unknown runtime ${name}`)
  const version = run(runtime.script("")[0], ["--version"]).stdout.split("\n")[0]
  console.log(`== ${name}: ${version}`)
  checkDemo(name, runtime)
  checkSuites(name, runtime)
}
console.log(`\nruntimes: ${totalPassed} passed, ${totalFailed} failed as the support matrix documents`)
if (problems.length > 0) {
  console.log(`\n${problems.length} problem(s):\n${problems.map((p) => `- ${p}`).join("\n")}`)
  process.exitCode = 1
}
