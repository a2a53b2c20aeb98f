/**
 * CSV with a header row, parsed by `csv-parse` and written by
 * `csv-stringify`. Every field arrives as a string; a Schema gives the
 * columns their types (`Schema.NumberFromString`, ...), and a row that does
 * not fit fails the index naming the file and line.
 */
import type { Sink } from "@curator/core"
import { parse } from "csv-parse"
import { stringify } from "csv-stringify/sync"
import { Chunk, Effect, Either, type Schema, Stream } from "effect"
import * as fs from "node:fs"
import { pipeline } from "node:stream"
import { makeReader, type Reader } from "./FileSource.js"
import type { FormatError } from "./FormatError.js"
import { decodeWith, encodeWith, type FileOptions, fromReadable, placement, schemaParams, structFields, textSink } from "./internal/files.js"

/** Options of the CSV reader. */
export interface ReadOptions {
  /** The field delimiter (default ","). */
  readonly delimiter?: string | undefined
}

/** A record and the line it ends on (csv-parse's `info` option would copy its whole info object per record: twice as slow). */
interface Parsed {
  readonly record: Record<string, string>
  readonly line: number
}

/**
 * Reads a CSV file whose first line names the columns, as a stream of rows
 * decoded by `schema`. Empty lines are skipped.
 *
 * @example
 * const Row = Schema.Struct({ id: Schema.NumberFromString, text: Schema.String })
 * const rows = FileSource.glob("*.csv", { root: "/data", read: Csv.read(Row) })
 */
export const read = <A, I>(schema: Schema.Schema<A, I>, options: ReadOptions = {}): Reader<A> => {
  const decode = decodeWith(schema)
  const delimiter = options.delimiter ?? ","
  return makeReader({ format: "csv", delimiter, ...schemaParams(schema) }, (file) =>
    fromReadable<Parsed>(
      "csv",
      file,
      // pipeline() forwards a read error of the file to the parser, the stream we read.
      () => pipeline(fs.createReadStream(file), parse({
        columns: true,
        skip_empty_lines: true,
        delimiter,
        on_record: (record: Record<string, string>, context) => ({ record, line: context.lines })
      }), () => {}),
      (cause) => {
        const lines = (cause as { lines?: unknown }).lines
        return typeof lines === "number" ? `line ${lines}` : undefined
      }
    ).pipe(Stream.mapChunksEffect((parsed) => {
      const rows: Array<A> = []
      for (const { line, record } of parsed) {
        const decoded = decode("csv", file, `line ${line}`, record)
        if (Either.isLeft(decoded)) return Effect.fail(decoded.left)
        rows.push(decoded.right)
      }
      return Effect.succeed(Chunk.unsafeFromArray(rows))
    })))
}

/** Options of the CSV sink. */
export interface WriteOptions<A, I> extends FileOptions {
  /** Encodes each row and fixes the columns: the schema's fields, in order. */
  readonly schema: Schema.Schema<A, I>
  /** The field delimiter (default ","). */
  readonly delimiter?: string | undefined
}

/**
 * One CSV file per index (`000042.csv`) with a header row, written
 * atomically; an index whose items were all dropped writes none.
 */
export const write = <A, I>(options: WriteOptions<A, I>): Sink.Sink<A, FormatError> => {
  const { dir, pathOf } = placement(options, ".csv")
  const columns = structFields(options.schema, "Csv.write").map((field) => String(field.name))
  const encode = encodeWith(options.schema)
  const delimiter = options.delimiter ?? ","
  return textSink<A>("csv", {
    name: options.name ?? "CsvWrite",
    params: { dir, format: "csv", columns, delimiter },
    pathOf,
    encode: (items, first, file) => {
      const rows: Array<I> = []
      for (let i = 0; i < items.length; i++) {
        const encoded = encode("csv", file, `item ${first + i}`, items[i]!)
        if (Either.isLeft(encoded)) return Either.left(encoded.left)
        rows.push(encoded.right)
      }
      // The header goes with the first chunk only.
      return Either.right(stringify(rows, { header: first === 0, columns, delimiter }))
    }
  })
}
