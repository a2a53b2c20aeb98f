/**
 * Arrow IPC (the file format, `.arrow`, and the stream format), read and
 * written with `apache-arrow`. The reader opens the file as a handle and
 * decodes one record batch at a time.
 */
import { Sink } from "@curator/core"
import { RecordBatchReader, type StructRowProxy, tableFromJSON, tableToIPC } from "apache-arrow"
import { Chunk, Effect, Either, type Schema, Stream } from "effect"
import * as fs from "node:fs/promises"
import { makeReader, type Reader } from "./FileSource.js"
import { describe, FormatError } from "./FormatError.js"
import { decodeWith, encodeWith, type FileOptions, mismatch, placement, schemaParams, unencodable, writeAtomic } from "./internal/files.js"

/** Options of the Arrow reader. */
export interface ReadOptions<A, I> {
  /** Decodes each row; default: rows as plain objects (`StructRow.toJSON()`). */
  readonly schema?: Schema.Schema<A, I> | undefined
  /** Reads only record batches `start` (inclusive) to `end` (exclusive). */
  readonly batches?: { readonly start: number; readonly end: number } | undefined
}

/**
 * Reads an Arrow IPC file (file or stream format) as a stream of rows, one
 * record batch in memory at a time.
 *
 * @example
 * const rows = FileSource.glob("*.arrow", { root: "/data", read: Arrow.read() })
 */
export const read = <A = Record<string, unknown>, I = A>(options: ReadOptions<A, I> = {}): Reader<A> => {
  const decode = options.schema === undefined ? undefined : decodeWith(options.schema)
  const start = options.batches?.start ?? 0
  const end = options.batches?.end ?? Number.POSITIVE_INFINITY
  const params = {
    format: "arrow",
    ...(options.batches === undefined ? {} : { batches: [start, end] }),
    ...schemaParams(options.schema)
  }
  return makeReader(params, (file) => {
    const failure = (position: string | undefined) => (cause: unknown) =>
      new FormatError({ format: "arrow", path: file, position, reason: `not a readable Arrow IPC file: ${describe(cause)}` })
    const opened = Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const reader = await RecordBatchReader.from(fs.open(file))
          return await reader.open()
        },
        catch: failure("header")
      }),
      (reader) => Effect.promise(() => reader.cancel())
    )
    return Stream.unwrapScoped(Effect.map(opened, (reader) =>
      Stream.suspend(() => {
        let batch = -1
        return Stream.fromAsyncIterable(reader, (cause) => failure(`record batch ${batch + 1}`)(cause)).pipe(
          Stream.map((records) => {
            batch += 1
            return { batch, records }
          }),
          Stream.takeWhile(({ batch }) => batch < end),
          Stream.filter(({ batch }) => batch >= start),
          Stream.mapEffect(({ batch, records }) => {
            const rows = records.toArray() as Array<StructRowProxy>
            const values: Array<A> = []
            for (let r = 0; r < rows.length; r++) {
              const row = rows[r]!.toJSON()
              if (decode === undefined) {
                values.push(row as A)
                continue
              }
              const decoded = decode(row)
              if (Either.isLeft(decoded)) return Effect.fail(mismatch("arrow", file, `record batch ${batch}, row ${r}`, decoded.left))
              values.push(decoded.right)
            }
            return Effect.succeed(values)
          }),
          Stream.mapConcatChunk((rows) => Chunk.unsafeFromArray(rows))
        )
      })))
  })
}

/** Options of the Arrow sink. */
export interface WriteOptions<A, I> extends FileOptions {
  /** Encodes each row before it is written (default: rows as they are; column types are inferred). */
  readonly schema?: Schema.Schema<A, I> | undefined
  /** The IPC format: "file" (random access, the default) or "stream". */
  readonly format?: "file" | "stream" | undefined
}

/**
 * One Arrow IPC file per index (`000042.arrow`) holding the index's rows as
 * one table, written atomically; an index whose items were all dropped
 * writes none.
 */
export const write = <A, I = A>(options: WriteOptions<A, I>): Sink.Sink<A, FormatError> => {
  const { dir, pathOf } = placement(options, ".arrow")
  const encode = options.schema === undefined ? undefined : encodeWith(options.schema)
  const format = options.format ?? "file"
  return Sink.fromItems<A, FormatError>({
    name: options.name ?? "ArrowWrite",
    params: { dir, format: `arrow-${format}` },
    write: (items, index) =>
      Effect.suspend(() => {
        if (items.length === 0) return Effect.succeed([])
        const file = pathOf(index)
        const rows: Array<Record<string, unknown>> = []
        for (let i = 0; i < items.length; i++) {
          if (encode === undefined) {
            rows.push(items[i] as Record<string, unknown>)
            continue
          }
          const encoded = encode(items[i]!)
          if (Either.isLeft(encoded)) return Effect.fail(unencodable("arrow", file, `item ${i}`, encoded.left))
          rows.push(encoded.right as Record<string, unknown>)
        }
        return Effect.try({
          try: () => tableToIPC(tableFromJSON(rows), format),
          catch: (cause) => new FormatError({ format: "arrow", path: file, reason: `cannot encode the rows: ${describe(cause)}` })
        }).pipe(Effect.flatMap((bytes) => writeAtomic("arrow", file, bytes)))
      })
  })
}
