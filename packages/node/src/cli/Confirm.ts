/**
 * Asking the user before a destructive command: a `[y/N]` question on
 * stderr, answered by a line on stdin (a terminal, or a pipe in scripts).
 */
import { Effect } from "effect"
import * as readline from "node:readline"

/**
 * Asks `question`; true only for an answer of `y` or `yes`. The end of
 * input counts as no; Ctrl-C at the question interrupts the command.
 */
export const confirm = (question: string): Effect.Effect<boolean> =>
  Effect.async<boolean | "interrupted">((resume) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true })
    let settled = false
    const settle = (answer: boolean | "interrupted") => {
      if (settled) return
      settled = true
      rl.close()
      process.stdin.pause()
      resume(Effect.succeed(answer))
    }
    rl.on("SIGINT", () => {
      process.stderr.write("\n")
      settle("interrupted")
    })
    rl.once("close", () => {
      // The input ended without an answer: end the question's line.
      if (!settled) process.stderr.write("\n")
      settle(false)
    })
    rl.question(`${question} [y/N] `, (answer) => settle(/^\s*y(es)?\s*$/i.test(answer)))
    return Effect.sync(() => settle(false))
  }).pipe(Effect.flatMap((answer) => (answer === "interrupted" ? Effect.interrupt : Effect.succeed(answer))))
