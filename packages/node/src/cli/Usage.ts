/**
 * The command line's help and argument errors, in Curator's words.
 * `@effect/cli` parses; before it runs a command, the same parse is done
 * here first so that
 *
 * - a bad argument is one line on stderr, prefixed `curator:`, naming the
 *   option and the value it got, suggesting the nearest command or option
 *   (exit 2, no help page, no trailing blank line);
 * - `--help` prints the help page without the generic filler @effect/cli
 *   adds to every option ("This setting is optional.", "A true or false
 *   value."…), with defaults stated, without the `--wizard` and
 *   `--completions` built-ins, with usage lines starting with `curator`, and
 *   each command's description under its usage line rather than padded to
 *   the longest usage.
 *
 * Everything else (the parse succeeded) goes to `@effect/cli` as before.
 */
import * as AutoCorrect from "@effect/cli/AutoCorrect"
import * as CliConfig from "@effect/cli/CliConfig"
import type * as Command from "@effect/cli/Command"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import * as HelpDoc from "@effect/cli/HelpDoc"
import type * as Span from "@effect/cli/HelpDoc/Span"
import * as Usage from "@effect/cli/Usage"
import * as ValidationError from "@effect/cli/ValidationError"
import type { FileSystem } from "@effect/platform/FileSystem"
import type { Path } from "@effect/platform/Path"
import type { Terminal } from "@effect/platform/Terminal"
import { Effect } from "effect"

/**
 * What the pre-parse decided: print a text and exit with a code, run the
 * command on the value it parsed, or let `@effect/cli` handle a built-in
 * option (`--version`, `--completions`, `--wizard`).
 */
export type Preflight =
  | { readonly _tag: "Print"; readonly stream: "stdout" | "stderr"; readonly text: string; readonly code: number }
  | { readonly _tag: "Run"; readonly parsed: { readonly value: unknown } | undefined }

const ansi = /\x1b\[[0-9;]*m/g

/** The plain text of a span. */
export const spanText = (span: Span.Span): string => {
  const value = (span as { readonly value?: unknown }).value
  if (span._tag === "Sequence") return spanText(span.left) + spanText(span.right)
  if (typeof value === "string") return value
  if (value !== undefined) return spanText(value as Span.Span)
  return ""
}

/** The plain text of a help document (its lines joined with spaces). */
export const docText = (doc: HelpDoc.HelpDoc): string =>
  HelpDoc.toAnsiText(doc).replace(ansi, "").replace(/\s+/g, " ").trim()

/** The generic sentences `@effect/cli` puts under every option and argument. */
const filler = [
  /^This setting is optional\.$/,
  /^A true or false value\.$/,
  /^A user-defined piece of text\.$/,
  /^An integer\.$/,
  /^A floating point number\.$/,
  /^A date without a time-zone in the ISO-8601 format, such as 2007-12-03T10:15:30\.$/,
  /^One of the following: .*$/,
  /^A file system path\.?.*$/,
  /^This argument (?:is|may be) .*$/
]

/**
 * Built-in options that have nothing to do with Curator's commands:
 * `--log-level` sets Effect's logger, which `curator` removes (runs record
 * their logs in the database; `logs --level` filters them).
 */
const hiddenOptions = /^(?:--wizard|--completions|--log-level)\b/

/** The help document without filler, with defaults stated plainly. */
const clean = (doc: HelpDoc.HelpDoc, prefix: string): HelpDoc.HelpDoc => {
  switch (doc._tag) {
    case "Paragraph": {
      const text = spanText(doc.value)
      const defaulted = /^This setting is optional\. Defaults to: (.*)$/.exec(text)
      if (defaulted !== null) return HelpDoc.p(`Default: ${defaulted[1]}`)
      return filler.some((pattern) => pattern.test(text)) ? HelpDoc.empty : doc
    }
    case "Sequence": {
      const left = clean(doc.left, prefix)
      const right = clean(doc.right, prefix)
      return HelpDoc.isEmpty(left) ? right : HelpDoc.isEmpty(right) ? left : HelpDoc.sequence(left, right)
    }
    case "DescriptionList": {
      const kept = doc.definitions
        .filter(([term]) => !hiddenOptions.test(spanText(term).replace(/^\(.*?\)\s*/, "")))
        .map(([term, description]) => [term, clean(description, prefix)] as [Span.Span, HelpDoc.HelpDoc])
      return kept.length === 0 ? HelpDoc.empty : HelpDoc.descriptionList(kept as [[Span.Span, HelpDoc.HelpDoc]])
    }
    case "Enumeration": {
      // The command list: one paragraph per command, `usage<padding>description`; the description goes under it.
      const elements = doc.elements.flatMap((element) => {
        if (element._tag !== "Paragraph") return [clean(element, prefix)]
        const text = spanText(element.value)
        const split = /^(.*?\S) {2,}(\S.*)$/.exec(text)
        if (split === null) return [element]
        return [HelpDoc.p(`${prefix} ${split[1]}`), HelpDoc.p(`    ${split[2]}`)]
      })
      return HelpDoc.blocks(elements)
    }
    default:
      return doc
  }
}

/** The help page of a command: usage, then the cleaned description, arguments, options and subcommands. */
export const helpPage = (names: ReadonlyArray<string>, usage: Usage.Usage, doc: HelpDoc.HelpDoc, color: boolean): string => {
  const own = docText(Usage.getHelp(usage))
  const usageText = own.startsWith("curator") ? own : ["curator", ...names.slice(0, -1), own].join(" ")
  const page = HelpDoc.blocks([HelpDoc.h1("USAGE"), HelpDoc.p(`  ${usageText}`), clean(doc, ["curator", ...names].join(" "))])
  const text = HelpDoc.toAnsiText(page)
  return (color ? text : text.replace(ansi, "")).replace(/\n+$/, "") + "\n"
}

/** The name among `candidates` nearest to `word`, if it is near enough to be a likely typo. */
export const nearest = (word: string, candidates: ReadonlyArray<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const distance = AutoCorrect.levensteinDistance(word, candidate, CliConfig.defaultConfig)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

// `@effect/cli` exposes a command's direct subcommands only from its parent's side (`getSubcommands` of a
// nested group returns the group itself), so the tree is walked through its instructions: `Map` wraps a
// command, `Subcommands` holds a parent and its children, `Standard` is a leaf with a name.
interface Node {
  readonly _tag: string
  readonly command?: Node
  readonly parent?: Node
  readonly children?: ReadonlyArray<Node>
  readonly name?: string
}
const unwrap = (node: Node): Node => node._tag === "Map" && node.command !== undefined ? unwrap(node.command) : node
const nameOf = (node: Node): string => {
  const inner = unwrap(node)
  return inner._tag === "Subcommands" && inner.parent !== undefined ? nameOf(inner.parent) : inner.name ?? ""
}
/** A command's subcommands by name, in the order they were declared. */
const subcommandsOf = (command: Descriptor.Command<unknown>): ReadonlyArray<readonly [string, Descriptor.Command<unknown>]> => {
  const inner = unwrap(command as unknown as Node)
  return inner._tag === "Subcommands"
    ? (inner.children ?? []).map((child) => [nameOf(child), child as unknown as Descriptor.Command<unknown>] as const)
    : []
}

/** The subcommand path the arguments name (`["cache", "prune"]`), as far as it goes. */
const commandPath = (descriptor: Descriptor.Command<unknown>, args: ReadonlyArray<string>): {
  readonly names: ReadonlyArray<string>
  readonly command: Descriptor.Command<unknown>
  /** Whether the path ends at a group of commands (`curator`, `curator cache`) rather than one command. */
  readonly group: boolean
} => {
  const names: Array<string> = []
  let command = descriptor
  for (const arg of args) {
    if (arg.startsWith("-")) continue
    const child = subcommandsOf(command).find(([name]) => name === arg)
    if (child === undefined) break
    names.push(arg)
    command = child[1]
  }
  return { names, command, group: subcommandsOf(command).length > 0 }
}

/** The option names a command accepts (from its usage line). */
const optionNames = (command: Descriptor.Command<unknown>): ReadonlyArray<string> =>
  Array.from(new Set(docText(Usage.getHelp(Descriptor.getUsage(command))).match(/--[a-z][a-z-]*/g) ?? []))

const builtIns = ["--help", "--version", "--verbose", "--wizard", "--completions", "--log-level"]

/** The option in `args` that was given `value` (as `--name value` or `--name=value`). */
const optionGiven = (args: ReadonlyArray<string>, accepts: (value: string) => boolean): { name: string; value: string } | undefined => {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith("--")) continue
    const eq = arg.indexOf("=")
    const [name, value] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, args[i + 1]]
    if (value !== undefined && !value.startsWith("--") && !accepts(value)) return { name, value }
  }
  return undefined
}

/** One line for a parse error: what was wrong, with the option and value, and a suggestion when there is one. */
export const describeError = (
  root: Descriptor.Command<unknown>,
  args: ReadonlyArray<string>,
  error: ValidationError.ValidationError
): string => {
  const text = docText(error.error)
  const { command, names } = commandPath(root, args)
  const commandName = ["curator", ...names].join(" ")
  // In the order the command lists them, when the message has it.
  const subcommands = subcommandsOf(command).map(([name]) => name)
  const seeHelp = `see ${commandName} --help`

  if (/^Invalid subcommand/.test(text) || ValidationError.isCommandMismatch(error) || ValidationError.isMissingSubcommand(error)) {
    const word = args.find((arg) => !arg.startsWith("-") && !names.includes(arg))
    if (word === undefined) return `${commandName} needs a command: one of ${subcommands.join(", ")}`
    const suggestion = nearest(word, subcommands)
    return `unknown command "${word}"${suggestion === undefined ? "" : `; did you mean ${suggestion}?`} (commands: ${subcommands.join(", ")})`
  }
  const cases = /^Expected one of the following cases: (.*)$/.exec(text)
  if (cases !== null) {
    const accepted = cases[1]!.split(/,\s*/)
    const given = optionGiven(args, (value) => accepted.includes(value))
    if (given !== undefined) return `${given.name}: expected one of ${accepted.join(", ")}; got "${given.value}"`
  }
  const notA = /^'(.*)' is not an? (.+)$/.exec(text)
  if (notA !== null) {
    const given = optionGiven(args, (value) => value !== notA[1])
    if (given !== undefined) return `${given.name}: expected ${/^[aeiou]/.test(notA[2]!) ? "an" : "a"} ${notA[2]}; got "${given.value}"`
  }
  const unknown = /^Received unknown argument: '(.*)'$/.exec(text)
  if (unknown !== null) {
    const word = unknown[1]!
    // An unknown option before the target is taken for the target: name the option instead.
    const unknownOption = args.find((arg) => /^--[a-z]/.test(arg) && !optionNames(command).includes(arg.replace(/=.*$/, "")) && !builtIns.includes(arg))
    if (unknownOption !== undefined && !word.startsWith("-")) {
      const suggestion = nearest(unknownOption.replace(/=.*$/, ""), optionNames(command))
      return `unknown option ${unknownOption}${suggestion === undefined ? "" : `; did you mean ${suggestion}?`} (${seeHelp})`
    }
    if (optionNames(command).includes(word)) return `${word} needs a value (${seeHelp})`
    if (word.startsWith("-")) {
      const suggestion = nearest(word.replace(/=.*$/, ""), optionNames(command))
      return `unknown option ${word}${suggestion === undefined ? "" : `; did you mean ${suggestion}?`} (${seeHelp})`
    }
    return `unexpected argument "${word}" (${seeHelp})`
  }
  const missingArg = /^Missing argument (<.*>)$/.exec(text)
  if (missingArg !== null) return `missing ${missingArg[1]} (${seeHelp})`
  const missingFlag = /^Expected to find option: '(.*)'$/.exec(text)
  if (missingFlag !== null) return `${missingFlag[1]} is required (${seeHelp})`
  return `${text.replace(/\.$/, "")} (${seeHelp})`
}

/** A command that needs a subcommand, given none (`curator cache`): its help page. */
const helpRequested = (root: Descriptor.Command<unknown>, args: ReadonlyArray<string>, color: boolean): Preflight => {
  const { command, names } = commandPath(root, args)
  const text = helpPage(names, Descriptor.getUsage(command), Descriptor.getHelp(command, CliConfig.defaultConfig), color)
  return { _tag: "Print", stream: "stdout", code: 0, text }
}

/**
 * Parses `argv` (as `process.argv`) against the command tree: a parse error
 * becomes one line (exit 2), `--help` the cleaned help page (exit 0);
 * anything else runs as `@effect/cli` would.
 */
export const preflight = <A>(
  command: Command.Command<"curator", any, any, A>,
  argv: ReadonlyArray<string>,
  color: boolean
): Effect.Effect<Preflight, never, FileSystem | Path | Terminal> => {
  const args = argv.slice(2)
  const descriptor = command.descriptor as Descriptor.Command<unknown>
  return Descriptor.parse(descriptor, ["curator", ...args], CliConfig.defaultConfig).pipe(
    Effect.map((directive): Preflight => {
      if (directive._tag === "BuiltIn" && directive.option._tag === "ShowHelp") {
        const { names } = commandPath(descriptor, args)
        const text = helpPage(names, directive.option.usage, directive.option.helpDoc, color)
        return { _tag: "Print", stream: "stdout", code: 0, text }
      }
      if (directive._tag === "UserDefined" && commandPath(descriptor, args).group) return helpRequested(descriptor, args, color)
      if (directive._tag === "UserDefined" && directive.leftover.length > 0) {
        const error = ValidationError.invalidValue(HelpDoc.p(`Received unknown argument: '${directive.leftover[0]}'`))
        return { _tag: "Print", stream: "stderr", code: 2, text: `curator: ${describeError(descriptor, args, error)}\n` }
      }
      // The command's parsed value: it runs without a second parse (each builds every option's help).
      return { _tag: "Run", parsed: directive._tag === "UserDefined" ? { value: directive.value } : undefined }
    }),
    Effect.catchAll((error) =>
      Effect.succeed<Preflight>(
        ValidationError.isHelpRequested(error)
          ? helpRequested(descriptor, args, color)
          : { _tag: "Print", stream: "stderr", code: 2, text: `curator: ${describeError(descriptor, args, error)}\n` }
      )
    )
  )
}
