/**
 * SIGINT and SIGTERM for the `curator` process. The first one asks the
 * running command to stop gracefully, if it said how (`run` stops taking
 * new indices and lets those in flight finish); otherwise, and on a second
 * signal, the command is interrupted at once: what it opened is closed
 * (checkpoints are flushed) and the process exits with 130. A signal after
 * that exits at once, without closing anything.
 */
import { makeRunMain } from "@effect/platform/Runtime"
import { Deferred, Effect, type Scope } from "effect"
import { ExitCode } from "./CliError.js"

/** The signals that stop a command. */
export type StopSignal = "SIGINT" | "SIGTERM"

/** The graceful stop of the running command, if it registered one; a process runs one command. */
let graceful: ((signal: StopSignal) => void) | undefined

/**
 * Runs the program as the process's main fiber, as `NodeRuntime.runMain`
 * does, with the two-step handling of SIGINT and SIGTERM described above.
 */
export const runMain = makeRunMain(({ fiber, teardown }) => {
  // Keeps the process alive while the program waits on nothing but timers it may clear.
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  let signals = 0
  let interrupted = false
  const onSignal = (signal: StopSignal) => {
    signals++
    const stop = graceful
    if (signals === 1 && stop !== undefined) return stop(signal)
    if (!interrupted) {
      interrupted = true
      return fiber.unsafeInterruptAsFork(fiber.id())
    }
    // Closing takes too long for the user: leave now. The database stays consistent (WAL), as after a crash.
    process.exit(ExitCode.Interrupted)
  }
  const onSigint = () => onSignal("SIGINT")
  const onSigterm = () => onSignal("SIGTERM")
  const removeListeners = () => {
    process.removeListener("SIGINT", onSigint)
    process.removeListener("SIGTERM", onSigterm)
  }
  fiber.addObserver((exit) => {
    removeListeners()
    clearInterval(keepAlive)
    teardown(exit, (code) => {
      if (signals > 0 || code !== 0) process.exit(code)
    })
  })
  process.on("SIGINT", onSigint)
  process.on("SIGTERM", onSigterm)
})

/**
 * While the scope is open, the first SIGINT or SIGTERM does not interrupt
 * the command: it completes the returned effect with the signal's name,
 * and the command stops as it sees fit. A second signal still interrupts.
 */
export const gracefulStop: Effect.Effect<Effect.Effect<StopSignal>, never, Scope.Scope> = Effect.gen(function*() {
  const received = yield* Deferred.make<StopSignal>()
  yield* Effect.acquireRelease(
    Effect.sync(() => {
      graceful = (signal) => Deferred.unsafeDone(received, Effect.succeed(signal))
    }),
    () => Effect.sync(() => (graceful = undefined))
  )
  return Deferred.await(received)
})
