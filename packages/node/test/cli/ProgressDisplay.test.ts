/**
 * The progress display of `curator run`: frames and lines as pure functions
 * of the state and the time, the drawing loop on a fake stream (TestClock),
 * and the live display end to end under a pseudo-terminal (`script`).
 */
import type { Progress } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { spawn } from "node:child_process"
import * as ProgressDisplay from "../../src/cli/ProgressDisplay.js"
import { binScript, fixture, makeSandbox, nodeArgs, repoRoot } from "./curator.js"

const worker = (n: number) => `${String(n).repeat(8)}${"0".repeat(24)}`

/** A run of 10 indices (2 from the checkpoint) on 3 workers, seen at t = 4000 ms. */
const midRun = () => {
  const state = ProgressDisplay.makeState()
  const events: Array<[number, Progress.ProgressEvent]> = [
    [0, { _tag: "RunStarted", total: 10, cached: 2, backend: "fibers", concurrency: 3, location: "/cache/x.db" }],
    [0, { _tag: "IndexStarted", index: 2, workerId: worker(1) }],
    [0, { _tag: "IndexStarted", index: 3, workerId: worker(2) }],
    [0, { _tag: "IndexStarted", index: 4, workerId: worker(3) }],
    [1000, { _tag: "IndexFinished", index: 2, workerId: worker(1), status: "completed", wallTimeNs: 1e9 }],
    [1000, { _tag: "IndexStarted", index: 5, workerId: worker(1) }],
    [1500, { _tag: "IndexFinished", index: 3, workerId: worker(2), status: "failed", wallTimeNs: 1.5e9 }],
    [2000, { _tag: "IndexFinished", index: 4, workerId: worker(3), status: "completed", wallTimeNs: 2e9 }],
    [2000, { _tag: "IndexStarted", index: 6, workerId: worker(3) }],
    [3500, { _tag: "IndexFinished", index: 5, workerId: worker(1), status: "completed", wallTimeNs: 2.5e9 }],
    [3500, { _tag: "IndexStarted", index: 7, workerId: worker(1) }]
  ]
  for (const [at, event] of events) ProgressDisplay.update(state, event, at)
  return state
}

describe("ProgressDisplay", () => {
  it("derives done, failed, cached, remaining, rate and ETA from the state", () => {
    expect(ProgressDisplay.figures(midRun(), 4000)).toEqual({
      total: 10,
      completed: 3,
      failed: 1,
      cached: 2,
      quarantined: 0,
      stalled: 0,
      remaining: 4,
      fraction: 0.6,
      elapsedS: 4,
      ratePerS: 1,
      etaS: 4
    })
  })

  it("draws a frame: the bar with the counts, rate and ETA, then one line per worker", () => {
    expect(ProgressDisplay.frame(midRun(), 4000, { columns: 100, maxWorkers: 8 })).toEqual([
      "██████████████████░░░░░░░░░░░░  60% 6/10 · 3 done, 1 failed, 2 cached, 4 left · 1.00/s · ETA 4.0 s",
      "  worker 1 11111111  index 7 for 500 ms",
      "  worker 2 22222222  idle (1 done)",
      "  worker 3 33333333  index 6 for 2.0 s"
    ])
  })

  it("counts quarantined indices apart (not left to do) and shows a stalled worker, in the frame and the plain line", () => {
    const state = ProgressDisplay.makeState()
    const events: Array<[number, Progress.ProgressEvent]> = [
      [0, { _tag: "RunStarted", total: 10, cached: 2, quarantined: 3, backend: "fibers", concurrency: 2, location: undefined }],
      [0, { _tag: "IndexStarted", index: 0, workerId: worker(1) }],
      [0, { _tag: "IndexStarted", index: 1, workerId: worker(2) }],
      [1000, { _tag: "IndexFinished", index: 1, workerId: worker(2), status: "completed", wallTimeNs: 1e9 }],
      [3000, { _tag: "IndexStalled", index: 0, workerId: worker(1), items: 0 }]
    ]
    for (const [at, event] of events) ProgressDisplay.update(state, event, at)
    expect(ProgressDisplay.figures(state, 4000)).toMatchObject({ quarantined: 3, stalled: 1, remaining: 4, fraction: 0.6 })
    expect(ProgressDisplay.frame(state, 4000, { columns: 120, maxWorkers: 8 })).toEqual([
      "███████████████░░░░░░░░░░  60% 6/10 · 1 done, 0 failed, 3 quarantined, 1 stalled, 2 cached, 4 left · 0.25/s · ETA 16.0 s",
      "  worker 1 11111111  index 0 for 4.0 s (stalled)",
      "  worker 2 22222222  idle (1 done)"
    ])
    expect(ProgressDisplay.line(state, 4000)).toContain("1 done, 0 failed, 3 quarantined, 1 stalled, 2 cached, 4 left")
  })

  it("fits the terminal: workers beyond the limit are counted, no line is wider than the terminal", () => {
    const lines = ProgressDisplay.frame(midRun(), 4000, { columns: 60, maxWorkers: 2 })
    expect(lines.slice(1)).toEqual(["  worker 1 11111111  index 7 for 500 ms", "  … 2 more workers (1 busy)"])
    expect(lines.every((line) => line.length <= 60)).toBe(true)
    // The counts give way before the bar shrinks below 10 cells or the ETA loses its unit.
    expect(lines[0]).toBe("██████████████████░░░░░░░░░░░░  60% 6/10 · ETA 4.0 s")
  })

  it("keeps a 10-cell bar and the ETA's unit at 80 columns on a large run", () => {
    const state = ProgressDisplay.makeState()
    ProgressDisplay.update(state, { _tag: "RunStarted", total: 1_000_000, cached: 123_456, backend: "workers", concurrency: 2, location: "/x.db" }, 0)
    for (let i = 0; i < 400_000; i++) {
      ProgressDisplay.update(state, { _tag: "IndexFinished", index: i, workerId: worker(1), status: i % 97 === 0 ? "failed" : "completed", wallTimeNs: 1 }, 1)
    }
    const [head] = ProgressDisplay.frame(state, 3_700, { columns: 80, maxWorkers: 4 })
    expect(head!.length).toBeLessThanOrEqual(80)
    expect(head).toMatch(/^[█░]{10,30} +\d+% 523456\/1000000 · (.+ · )?ETA \d+\.\d s$/)
  })

  it("shows a graceful stop in the frame until the run ends: what is in flight and how to stop at once", () => {
    const state = midRun()
    ProgressDisplay.markStopping(state, "SIGINT", 30, 3_000)
    const lines = ProgressDisplay.frame(state, 4_000, { columns: 80, maxWorkers: 8 })
    expect(lines.slice(1)).toEqual([
      "stopping (SIGINT): no new index; 2 in flight may finish, 29.0 s left",
      "press Ctrl-C again to stop at once",
      "  worker 1 11111111  index 7 for 500 ms",
      "  worker 2 22222222  idle (1 done)",
      "  worker 3 33333333  index 6 for 2.0 s"
    ])
    // A second signal does not restart the grace period.
    ProgressDisplay.markStopping(state, "SIGTERM", 30, 3_900)
    expect(ProgressDisplay.frame(state, 4_000, { columns: 80, maxWorkers: 8 })[1]).toContain("(SIGINT)")
    // The last frame is the bar alone; the summary then says the run was stopped.
    expect(ProgressDisplay.frame(state, 4_000, { columns: 80, maxWorkers: 8, final: true })).toHaveLength(1)
  })

  it("draws the last frame as the bar alone, with the time taken", () => {
    const state = midRun()
    ProgressDisplay.update(state, { _tag: "IndexFinished", index: 6, workerId: worker(3), status: "completed", wallTimeNs: 1 }, 5000)
    ProgressDisplay.update(state, { _tag: "IndexFinished", index: 7, workerId: worker(1), status: "completed", wallTimeNs: 1 }, 5000)
    ProgressDisplay.update(state, { _tag: "IndexStarted", index: 8, workerId: worker(2) }, 5000)
    ProgressDisplay.update(state, { _tag: "IndexFinished", index: 8, workerId: worker(2), status: "completed", wallTimeNs: 1 }, 5500)
    ProgressDisplay.update(state, { _tag: "IndexStarted", index: 9, workerId: worker(2) }, 5500)
    ProgressDisplay.update(state, { _tag: "IndexFinished", index: 9, workerId: worker(2), status: "failed", wallTimeNs: 1 }, 6000)
    expect(ProgressDisplay.frame(state, 6000, { columns: 100, maxWorkers: 8, final: true })).toEqual([
      "██████████████████████████████ 100% 10/10 · 6 done, 2 failed, 2 cached, 0 left · 1.33/s · in 6.0 s"
    ])
  })

  it("prints one plain line for a non-terminal", () => {
    expect(ProgressDisplay.line(midRun(), 4000)).toBe(
      "progress: 60% 6/10 · 3 done, 1 failed, 2 cached, 4 left · 1.00/s · ETA 4.0 s · elapsed 4.0 s"
    )
  })

  it("keeps the per-event work constant: a known worker's events allocate no new entry", () => {
    const state = midRun()
    const workers = state.workers.slice()
    for (let k = 0; k < 1000; k++) {
      ProgressDisplay.update(state, { _tag: "IndexStarted", index: k, workerId: worker(1) }, k)
      ProgressDisplay.update(state, { _tag: "IndexFinished", index: k, workerId: worker(1), status: "completed", wallTimeNs: 1 }, k)
    }
    expect(state.workers).toEqual(workers)
    expect(state.completed).toBe(1003)
  })

  /** A stream that records what is written to it. */
  const fakeStream = (isTTY: boolean) => {
    const writes: Array<string> = []
    const stream = { isTTY, columns: 100, rows: 30, write: (text: string) => writes.push(text) > 0 }
    return { writes, stream: stream as unknown as NodeJS.WriteStream }
  }

  it.scoped("on a non-terminal, writes one plain line every interval once the run has started", () =>
    Effect.gen(function*() {
      const { stream, writes } = fakeStream(false)
      const state = ProgressDisplay.makeState()
      const handler = yield* ProgressDisplay.start(state, { stream, mode: "plain", interval: "5 seconds" })
      yield* TestClock.adjust("5 seconds")
      expect(writes).toEqual([])
      handler!({ _tag: "RunStarted", total: 4, cached: 1, backend: "fibers", concurrency: 1, location: undefined })
      yield* TestClock.adjust("5 seconds")
      yield* TestClock.adjust("5 seconds")
      expect(writes).toHaveLength(2)
      expect(writes[0]).toMatch(/^progress: 25% 1\/4 · 0 done, 0 failed, 1 cached, 3 left · 0\.00\/s · ETA - · elapsed .+\n$/)
      expect(writes.join("")).not.toContain("\u001b")
    }))

  it.effect("on a terminal, hides the cursor, redraws frames in place, and ends with the bar and the cursor shown", () =>
    Effect.gen(function*() {
      const { stream, writes } = fakeStream(true)
      const state = ProgressDisplay.makeState()
      yield* Effect.scoped(Effect.gen(function*() {
        const handler = yield* ProgressDisplay.start(state, { stream, mode: "live", interval: "200 millis" })
        handler!({ _tag: "RunStarted", total: 2, cached: 0, backend: "fibers", concurrency: 1, location: undefined })
        handler!({ _tag: "IndexStarted", index: 0, workerId: worker(1) })
        yield* TestClock.adjust("200 millis")
        yield* TestClock.adjust("200 millis")
        handler!({ _tag: "IndexFinished", index: 0, workerId: worker(1), status: "completed", wallTimeNs: 1 })
      }))
      expect(writes[0]).toContain("\u001b[?25l")
      const frames = writes.slice(1, -1)
      expect(frames.length).toBeGreaterThanOrEqual(3)
      expect(frames[0]).toMatch(/^[█░]+ {3}0% 0\/2 .+\n {2}worker 1 11111111 {2}index 0 for .+$/)
      // Every later frame first erases the two lines of the one before.
      expect(frames[1]).toMatch(/^(\u001b\[0m)?\u001b\[2K\u001b\[1A\u001b\[2K\u001b\[G/)
      expect(frames.at(-1)).toMatch(/50% 1\/2 · 1 done, 0 failed, 0 cached, 1 left · .+ · in .+\n$/)
      expect(writes.at(-1)).toContain("\u001b[?25h")
    }))
})

describe("curator run under a terminal", () => {
  it("draws the live display and leaves the terminal clean: cursor shown, summary after the last frame", async () => {
    const sandbox = makeSandbox({ CURATOR_CLI_N: "12", CURATOR_CLI_DELAY_MS: "150" })
    try {
      const command = ["node", ...nodeArgs(["run", fixture, "--concurrency", "3"])].map((arg) => `'${arg}'`).join(" ")
      const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
        // util-linux `script` gives the command a pseudo-terminal; -e returns its exit code.
        const child = spawn("script", ["-qefc", `stty cols 120 rows 30; ${command}`, "/dev/null"], {
          cwd: repoRoot,
          env: { ...process.env, ...sandbox.env },
          stdio: ["pipe", "pipe", "pipe"]
        })
        let text = ""
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk))
        child.on("error", reject)
        child.on("close", (code) => resolve({ code, text }))
        child.stdin.end()
      })
      expect(output.code, output.text).toBe(0)
      const text = output.text.replaceAll("\r\n", "\n")
      const hidden = text.indexOf("\u001b[?25l")
      const shown = text.lastIndexOf("\u001b[?25h")
      expect(hidden).toBeGreaterThanOrEqual(0)
      expect(shown).toBeGreaterThan(hidden)
      const display = text.slice(hidden, shown)
      expect(display).toMatch(/ {2}worker 1 [0-9a-f]{8} {2}index \d+ for /)
      expect(display).toMatch(/ {2}worker 3 [0-9a-f]{8} {2}/)
      expect(display).toMatch(/100% 12\/12 · 12 done, 0 failed, 0 cached, 0 left · .+ · in .+\n/)
      expect(text.slice(shown)).toMatch(/^\u001b\[\?25h(\u001b\[0m)*12 indices in .+ on fibers \(concurrency 3(, after \d+\.\d s starting)?\): 12 completed/)
    } finally {
      sandbox.remove()
    }
  }, 60_000)

  it("the curator executable runs from the sources", async () => {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [binScript, "--version"], { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] })
      let text = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk))
      child.on("error", reject)
      child.on("close", (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))))
    })
    expect(output.trim()).toBe("0.1.0")
  }, 30_000)
})
