/** File plumbing shared by the readers and sinks of this package. */
import { type Provenance, Sink } from "@curator/core"
import { FileSink } from "@curator/node"
import { NodeStream } from "@effect/platform-node"
import { Chunk, Either, Effect, ParseResult, type Schema, SchemaAST, Stream } from "effect"
import * as fs from "node:fs"
import type { Readable } from "node:stream"
import { join, resolve } from "node:path"
import { describe, FormatError } from "../FormatError.js"

type Format = FormatError["format"]

/** A file's bytes as a lazy stream of chunks, the file closed when the stream ends or is interrupted. */
export const readChunks = (format: Format, file: string): Stream.Stream<Uint8Array, FormatError> =>
  fromReadable(format, file, () => fs.createReadStream(file))

/**
 * A Node readable (bytes or objects) as a lazy stream, through
 * `@effect/platform-node`: everything buffered is taken as one chunk per pull.
 */
export const fromReadable = <A = Uint8Array>(
  format: Format,
  file: string,
  evaluate: () => Readable,
  position?: (cause: unknown) => string | undefined
): Stream.Stream<A, FormatError> =>
  NodeStream.fromReadable<FormatError, A>(
    evaluate,
    (cause) => new FormatError({ format, path: file, position: position?.(cause), reason: describe(cause) })
  )

/**
 * A sink of text files, one per index: each chunk of items is encoded as it
 * streams in (`first` is the number of items before it), and only the
 * text is kept until the atomic write. (Faster than collecting the items
 * for `Sink.fromItems`, and it holds encoded text rather than objects.)
 * An index whose items were all dropped writes none.
 */
export const textSink = <A>(
  format: Format,
  options: {
    readonly name: string
    readonly params: Provenance.Params
    readonly pathOf: (index: number) => string
    readonly encode: (items: ReadonlyArray<A>, first: number, file: string) => Either.Either<string, FormatError>
  }
): Sink.Sink<A, FormatError> =>
  Sink.make<A, FormatError>({
    name: options.name,
    params: options.params,
    write: (items, index) =>
      Effect.suspend(() => {
        const file = options.pathOf(index)
        const parts: Array<string> = []
        let count = 0
        return Stream.runForEachChunk(items, (chunk) =>
          Effect.suspend(() => {
            const text = options.encode(Chunk.toReadonlyArray(chunk), count, file)
            if (Either.isLeft(text)) return Effect.fail(text.left)
            parts.push(text.right)
            count += chunk.length
            return Effect.void
          })).pipe(Effect.flatMap(() => (count === 0 ? Effect.succeed([]) : writeAtomic(format, file, parts.join("")))))
      })
  })

/** A schema's identity in params: its description, e.g. `{ readonly id: NumberFromString; ... }`. */
export const schemaParams = (schema: Schema.Schema.All | undefined): { readonly schema?: string } =>
  schema === undefined ? {} : { schema: String(schema.ast) }

/**
 * Decodes one value with `schema`: the value, or the schema's complaint,
 * which `mismatch` turns into the error naming where the value was. (The
 * position is only built for a value that does not fit: a string per row
 * is a measurable part of a reader's time.)
 */
export const decodeWith = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = ParseResult.decodeUnknownEither(schema)
  return (value: unknown): Either.Either<A, ParseResult.ParseIssue> => decode(value, firstError)
}

const firstError = { errors: "first" } as const

/** The error of a value that does not match the reader's schema. */
export const mismatch = (format: Format, file: string, position: string, issue: ParseResult.ParseIssue): FormatError =>
  new FormatError({ format, path: file, position, reason: `does not match the schema: ${ParseResult.TreeFormatter.formatIssueSync(issue)}` })

/** Encodes one item with `schema` before it is written: the encoded item, or the schema's complaint (see `unencodable`). */
export const encodeWith = <A, I>(schema: Schema.Schema<A, I>) => {
  const encode = ParseResult.encodeUnknownEither(schema)
  return (value: A): Either.Either<I, ParseResult.ParseIssue> => encode(value, firstError)
}

/** The error of an item a sink's schema cannot encode. */
export const unencodable = (format: Format, file: string, position: string, issue: ParseResult.ParseIssue): FormatError =>
  new FormatError({ format, path: file, position, reason: `cannot be encoded: ${ParseResult.TreeFormatter.formatIssueSync(issue)}` })

/** Where a file sink writes and how it names an index's file. */
export interface FileOptions {
  /** The directory the files go to; relative paths are resolved against the working directory. */
  readonly dir: string
  /** The sink's name in the configuration. */
  readonly name?: string | undefined
  /** The file name of an index (default `{index}` zero-padded to 6 digits, with the format's extension). */
  readonly fileName?: ((index: number) => string) | undefined
}

/** The resolved directory and the path of each index's file. */
export const placement = (options: FileOptions, extension: string) => {
  const dir = resolve(options.dir)
  const fileName = options.fileName ?? ((index: number) => `${String(index).padStart(6, "0")}${extension}`)
  return { dir, pathOf: (index: number) => join(dir, fileName(index)) }
}

/** Writes an index's encoded file atomically (temp + rename, by `@curator/node`'s FileSink) and returns its path. */
export const writeAtomic = (format: Format, file: string, contents: string | Uint8Array): Effect.Effect<ReadonlyArray<string>, FormatError> =>
  FileSink.writeFileAtomic(file, contents).pipe(
    Effect.mapError((error) => new FormatError({ format, path: file, reason: error.message })),
    Effect.as([file])
  )

/** The fields of a struct schema (its type side), in order; a sink with columns refuses any other schema. */
export const structFields = (schema: Schema.Schema.Any, who: string): ReadonlyArray<SchemaAST.PropertySignature> => {
  const ast = SchemaAST.typeAST(schema.ast)
  if (!SchemaAST.isTypeLiteral(ast) || ast.indexSignatures.length > 0) {
    throw new TypeError(`${who} needs a Schema.Struct (its fields are the columns), got ${String(ast)}`)
  }
  return ast.propertySignatures
}
