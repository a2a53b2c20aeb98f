/**
 * Arguments and options that several commands share, with their help text.
 */
import * as Args from "@effect/cli/Args"
import * as Options from "@effect/cli/Options"

/** `<target>`: a database file, a cached database id (or unique prefix), or a pipeline module. */
export const target = Args.text({ name: "target" }).pipe(
  Args.withDescription(
    "a database file (file.db#hash picks one configuration of several), the id (or a unique prefix) of a database in the cache directory, a pipeline module (path.ts, or path.ts#exportName) whose configuration finds its {hash16}.db, or a PostgreSQL location as run --postgres prints it (postgresql://user@host:5432/db#schema)"
  )
)

/** `--json`: print JSON instead of text. */
export const json = Options.boolean("json").pipe(Options.withDescription("print JSON instead of text"))

/** `--yes`: do not ask before changing anything. */
export const yes = Options.boolean("yes").pipe(Options.withAlias("y"), Options.withDescription("do not ask for confirmation"))

/** `--export NAME`: the export of a pipeline module that holds the pipeline. */
export const exportName = Options.text("export").pipe(
  Options.optional,
  Options.withPseudoName("NAME"),
  Options.withDescription("the export holding the pipeline (default: pipeline, else the default export)")
)
