/**
 * The one error of this package: a file could not be listed, read, decoded
 * or written. It names the file and the position in it, so the message
 * recorded against an index tells the user where to look.
 */
import { Schema } from "effect"

/** A file of a given format was unreadable, held a bad value, or could not be written. */
export class FormatError extends Schema.TaggedError<FormatError>()("FormatError", {
  /** The format being read or written. */
  format: Schema.Literal("file", "jsonl", "csv", "parquet", "arrow"),
  /** The file concerned (absolute). */
  path: Schema.String,
  /** Where in the file, e.g. "line 12", "row group 3"; undefined when the whole file is concerned. */
  position: Schema.optional(Schema.String),
  /** What went wrong and what to do. */
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.path}${this.position === undefined ? "" : ` (${this.position})`}: ${this.reason}`
  }
}

/** The text of a thrown value, for the `reason` of an error. */
export const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : String(cause)
