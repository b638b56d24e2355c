// A vitest reporter that ends the run with one plain line: "Tests: N passed, N failed, N skipped".
import type { Reporter } from "vitest/node"

interface Task {
  readonly type: string
  readonly mode?: string
  readonly result?: { readonly state?: string }
  readonly tasks?: ReadonlyArray<Task>
}

export default class PlainSummary implements Reporter {
  onFinished(files: ReadonlyArray<Task> = []): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    const visit = (task: Task): void => {
      if (task.tasks) return task.tasks.forEach(visit)
      if (task.type !== "test") return
      if (task.result?.state === "pass") passed++
      else if (task.result?.state === "fail") failed++
      else skipped++
    }
    files.forEach((file) => {
      if (file.result?.state === "fail" && (!file.tasks || file.tasks.length === 0)) failed++
      visit(file)
    })
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
  }
}
