/**
 * Asking the user before a destructive command, on stderr: true only for
 * yes. The end of input counts as no; Ctrl-C at the question interrupts
 * the command.
 *
 * On a terminal the question is `@effect/cli`'s `Prompt.confirm` (one key,
 * `y` or `n`; Enter keeps no), reading keys through NodeTerminal. From a
 * pipe (`echo y | curator reset …`) a whole line is read instead, because
 * the prompt cannot serve one: NodeTerminal's key mailbox ends only on
 * Ctrl-C/Ctrl-D, never at the end of the input, so an empty pipe waits
 * forever; the prompt judges each key on its own (`t` means true), so a
 * piped "whatever" would answer yes; and it draws with cursor escapes
 * that have no place in a script's log.
 */
import * as Prompt from "@effect/cli/Prompt"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Terminal from "@effect/platform/Terminal"
import { Effect } from "effect"
import * as readline from "node:readline"

/** Asks `question` (a `y/N` question; no is the default). */
export const confirm = (question: string): Effect.Effect<boolean> =>
  Effect.suspend(() => (process.stdin.isTTY === true ? onTerminal(question) : fromLine(question)))

/** The prompt, drawn on stderr, so that the command's output stays the command's. */
const onTerminal = (question: string): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    // Which key ended the prompt: Ctrl-C interrupts, Ctrl-D (end of input) is no.
    let quitBy: "interrupt" | "end" | undefined
    const keys = yield* NodeTerminal.make(({ key }) => {
      if (key.ctrl && key.name === "c") quitBy = "interrupt"
      else if (key.ctrl && key.name === "d") quitBy = "end"
      return quitBy !== undefined
    })
    const onStderr = Terminal.Terminal.of({
      ...keys,
      columns: Effect.sync(() => process.stderr.columns ?? 0),
      rows: Effect.sync(() => process.stderr.rows ?? 0),
      isTTY: Effect.sync(() => process.stderr.isTTY === true),
      display: (text) => Effect.sync(() => void process.stderr.write(text))
    })
    // A prompt is an effect needing only the terminal (`Prompt.run` would also ask for FileSystem and Path).
    const prompt: Effect.Effect<boolean, Terminal.QuitException, Terminal.Terminal> = Prompt.confirm({ message: question })
    return yield* prompt.pipe(
      Effect.provideService(Terminal.Terminal, onStderr),
      Effect.catchTag("QuitException", () => {
        process.stderr.write("\n")
        return quitBy === "interrupt" ? Effect.interrupt : Effect.succeed(false)
      })
    )
  }).pipe(Effect.scoped)

/** A line read from a pipe: `y` or `yes` (any case) is yes, anything else or nothing no. */
const fromLine = (question: string): Effect.Effect<boolean> =>
  Effect.async<boolean | "interrupted">((resume) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: false })
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
