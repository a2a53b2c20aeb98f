/**
 * Parquet, read with `hyparquet` (+ `hyparquet-compressors` for GZIP,
 * ZSTD, BROTLI, LZ4) and written with `hyparquet-writer`.
 *
 * Why these libraries: they are pure JavaScript with no native or WASM
 * binary, so they install anywhere Node 20 runs and work in worker threads
 * unchanged; hyparquet reads a file by byte ranges, one row group and only
 * the selected columns at a time, which is what bounded memory and "one
 * index per row group" need. `parquet-wasm` reads from a whole-file buffer
 * (its streaming reader takes URLs only), and `@duckdb/node-api` is a
 * ~60 MB native engine: used here only as an independent reader in tests.
 */
import { Sink, Source } from "@curator/core"
import { Chunk, Effect, Either, Option, ParseResult, Schema, SchemaAST, Stream } from "effect"
import { asyncBufferFromFile, type AsyncBuffer, type FileMetaData, parquetMetadataAsync, parquetReadObjects } from "hyparquet"
import { compressors as decompressors } from "hyparquet-compressors"
import { type BasicType, ByteWriter, type ColumnSource, ParquetWriter, schemaFromColumnData } from "hyparquet-writer"
import * as zlib from "node:zlib"
import { fingerprintOf, makeReader, type Reader } from "./FileSource.js"
import { describe, FormatError } from "./FormatError.js"
import { decodeWith, type FileOptions, mismatch, placement, schemaParams, structFields, writeAtomic } from "./internal/files.js"
import * as path from "node:path"

/** Options of the Parquet reader. */
export interface ReadOptions<A, I> {
  /** The columns to read (default all); the others are never fetched from disk. */
  readonly columns?: ReadonlyArray<string> | undefined
  /** Decodes each row (INT64 columns arrive as `bigint`); default: rows as the library returns them. */
  readonly schema?: Schema.Schema<A, I> | undefined
  /** Reads only row groups `start` (inclusive) to `end` (exclusive). */
  readonly rowGroups?: { readonly start: number; readonly end: number } | undefined
}

interface Opened {
  readonly buffer: AsyncBuffer
  readonly metadata: FileMetaData
}

const open = (file: string): Effect.Effect<Opened, FormatError> =>
  Effect.tryPromise({
    try: async () => {
      const buffer = await asyncBufferFromFile(file)
      return { buffer, metadata: await parquetMetadataAsync(buffer) }
    },
    catch: (cause) =>
      new FormatError({ format: "parquet", path: file, position: "footer", reason: `not a readable Parquet file: ${describe(cause)}` })
  })

/** The number of row groups of a Parquet file (reads its footer only). */
export const rowGroupCount = (file: string): Effect.Effect<number, FormatError> =>
  Effect.map(open(file), ({ metadata }) => metadata.row_groups.length)

/**
 * Reads a Parquet file as a stream of row objects, one row group in memory
 * at a time.
 *
 * @example
 * const rows = FileSource.glob("*.parquet", { root: "/data", read: Parquet.read({ columns: ["id", "text"] }) })
 */
export const read = <A = Record<string, unknown>, I = A>(options: ReadOptions<A, I> = {}): Reader<A> => {
  const decode = options.schema === undefined ? undefined : decodeWith(options.schema)
  const columns = options.columns === undefined ? undefined : [...options.columns]
  const params = {
    format: "parquet",
    ...(columns === undefined ? {} : { columns }),
    ...(options.rowGroups === undefined ? {} : { rowGroups: [options.rowGroups.start, options.rowGroups.end] }),
    ...schemaParams(options.schema)
  }
  return makeReader(params, (file) =>
    Stream.unwrap(Effect.map(open(file), ({ buffer, metadata }) => {
      const groups = metadata.row_groups
      const start = Math.max(0, options.rowGroups?.start ?? 0)
      const end = Math.min(groups.length, options.rowGroups?.end ?? groups.length)
      // The first row of each group: hyparquet addresses rows, not groups.
      const firstRows: Array<number> = [0]
      for (const group of groups) firstRows.push(firstRows[firstRows.length - 1]! + Number(group.num_rows))
      const readGroup = (g: number) =>
        Effect.tryPromise({
          try: () =>
            parquetReadObjects({
              file: buffer,
              metadata,
              rowStart: firstRows[g]!,
              rowEnd: firstRows[g + 1]!,
              compressors: decompressors,
              ...(columns === undefined ? {} : { columns })
            }),
          catch: (cause) =>
            new FormatError({ format: "parquet", path: file, position: `row group ${g}`, reason: `cannot decode: ${describe(cause)}` })
        }).pipe(Effect.flatMap((rows) => {
          if (decode === undefined) return Effect.succeed(rows as unknown as Array<A>)
          const decoded: Array<A> = []
          for (let r = 0; r < rows.length; r++) {
            const row = decode(rows[r])
            if (Either.isLeft(row)) return Effect.fail(mismatch("parquet", file, `row group ${g}, row ${r}`, row.left))
            decoded.push(row.right)
          }
          return Effect.succeed(decoded)
        }))
      if (start >= end) return Stream.empty
      // One chunk per row group, read when the previous one has been taken.
      return Stream.paginateChunkEffect(start, (g) =>
        Effect.map(readGroup(g), (rows) => [Chunk.unsafeFromArray(rows), g + 1 < end ? Option.some(g + 1) : Option.none()] as const))
    })))
}

/**
 * One index per row group of one Parquet file, so a single big file is
 * many resumable indices. The footer is read once per source value.
 *
 * @example
 * const source = Parquet.rowGroups("/data/big.parquet", { columns: ["text"] })
 */
export const rowGroups = <A = Record<string, unknown>, I = A>(
  file: string,
  options: Omit<ReadOptions<A, I>, "rowGroups"> & { readonly name?: string | undefined } = {}
): Source.Source<A, FormatError> & { readonly fingerprint: (index: number) => Effect.Effect<string, FormatError> } => {
  const absolute = path.resolve(file)
  const count = Effect.runSync(Effect.cached(rowGroupCount(absolute)))
  const source = Source.make({
    name: options.name ?? "ParquetRowGroups",
    params: { file: absolute, ...(options.columns === undefined ? {} : { columns: [...options.columns] }), ...schemaParams(options.schema) },
    length: count,
    read: (index: number) => read<A, I>({ ...options, rowGroups: { start: index, end: index + 1 } })(absolute)
  })
  return {
    ...source,
    /** The file's fingerprint (name, size, mtime) and the row group. */
    fingerprint: (index: number) =>
      Effect.map(fingerprintOf(path.dirname(absolute), absolute), (file) => `${file}#${index}`)
  }
}

/** The compressions the sink can write. */
export type Codec = "UNCOMPRESSED" | "SNAPPY" | "GZIP" | "BROTLI"

// hyparquet-writer ships SNAPPY; GZIP and BROTLI come from node:zlib.
const compressors = {
  GZIP: (input: Uint8Array) => new Uint8Array(zlib.gzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(zlib.brotliCompressSync(input))
}

/** Options of the Parquet sink. */
export interface WriteOptions<A, I> extends FileOptions {
  /** The rows' schema: a struct whose fields become the columns (see `columnsOf`). */
  readonly schema: Schema.Schema<A, I>
  /** The compression (default "SNAPPY"). */
  readonly codec?: Codec | undefined
  /** Rows per row group (default 100,000); the sink holds one group of rows at a time. */
  readonly rowGroupSize?: number | undefined
  /**
   * Splits an index's rows into shards of at most this many rows, one file
   * each (`000042-00000.parquet`, `000042-00001.parquet`, ...); default: one
   * file per index.
   */
  readonly rowsPerFile?: number | undefined
}

/** A column of the Parquet schema derived from a Schema struct. */
export interface Column {
  readonly name: string
  readonly type: BasicType
  readonly nullable: boolean
}

/**
 * The Parquet columns of a Schema struct, from the types of its fields:
 * string → STRING, number → DOUBLE, `Schema.Int` → INT32, bigint → INT64,
 * boolean → BOOLEAN, `Schema.DateFromSelf` → TIMESTAMP, `Schema.Uint8ArrayFromSelf`
 * → BYTE_ARRAY, anything else → JSON. Optional fields and unions with
 * null or undefined are nullable.
 */
export const columnsOf = (schema: Schema.Schema.Any): ReadonlyArray<Column> =>
  structFields(schema, "Parquet.write").map((signature) => {
    const members = SchemaAST.isUnion(signature.type) ? signature.type.types : [signature.type]
    const present = members.filter((member) => !SchemaAST.isUndefinedKeyword(member) && !(SchemaAST.isLiteral(member) && member.literal === null))
    const nullable = signature.isOptional || present.length < members.length
    return { name: String(signature.name), type: present.length === 1 ? basicType(present[0]!) : "JSON", nullable }
  })

const basicType = (ast: SchemaAST.AST): BasicType => {
  if (SchemaAST.isRefinement(ast)) {
    // Schema.Int is a refinement of number named "Int".
    const id = SchemaAST.getSchemaIdAnnotation(ast)
    if (id._tag === "Some" && id.value === Schema.IntSchemaId && SchemaAST.isNumberKeyword(ast.from)) return "INT32"
    return basicType(ast.from)
  }
  if (SchemaAST.isStringKeyword(ast)) return "STRING"
  if (SchemaAST.isNumberKeyword(ast)) return "DOUBLE"
  if (SchemaAST.isBigIntKeyword(ast)) return "INT64"
  if (SchemaAST.isBooleanKeyword(ast)) return "BOOLEAN"
  if (SchemaAST.isLiteral(ast)) {
    return typeof ast.literal === "string" ? "STRING" : typeof ast.literal === "boolean" ? "BOOLEAN" : "JSON"
  }
  if (SchemaAST.isDeclaration(ast)) {
    const id = SchemaAST.getIdentifierAnnotation(ast)
    if (id._tag === "Some" && id.value === "DateFromSelf") return "TIMESTAMP"
    if (id._tag === "Some" && id.value === "Uint8ArrayFromSelf") return "BYTE_ARRAY"
  }
  return "JSON"
}

/**
 * One Parquet file per index (`000042.parquet`), or per shard of
 * `rowsPerFile` rows, its columns derived from `schema`, rows grouped into
 * row groups as they stream in, each file written atomically; an index
 * whose items were all dropped writes none.
 *
 * @example
 * const sink = Parquet.write({ dir: "/out", schema: Row, codec: "GZIP" })
 */
export const write = <A, I>(options: WriteOptions<A, I>): Sink.Sink<A, FormatError> => {
  const { dir, pathOf } = placement(options, ".parquet")
  const columns = columnsOf(options.schema)
  const codec = options.codec ?? "SNAPPY"
  const rowGroupSize = options.rowGroupSize ?? 100_000
  if (!Number.isSafeInteger(rowGroupSize) || rowGroupSize <= 0) {
    throw new TypeError(`Parquet.write: rowGroupSize must be a positive integer, got ${rowGroupSize}`)
  }
  const rowsPerFile = options.rowsPerFile
  if (rowsPerFile !== undefined && (!Number.isSafeInteger(rowsPerFile) || rowsPerFile <= 0)) {
    throw new TypeError(`Parquet.write: rowsPerFile must be a positive integer, got ${rowsPerFile}`)
  }
  const groupSize = Math.min(rowGroupSize, rowsPerFile ?? rowGroupSize)
  const validate = ParseResult.validateEither(Schema.typeSchema(options.schema))
  const parquetSchema = schemaFromColumnData({
    columnData: columns.map(({ name, nullable, type }) => ({ name, type, nullable, data: [] }))
  })
  return Sink.make<A, FormatError>({
    name: options.name ?? "ParquetWrite",
    params: {
      dir,
      format: "parquet",
      columns: columns.map((c) => `${c.name}:${c.type}${c.nullable ? "?" : ""}`),
      codec,
      rowGroupSize,
      ...(rowsPerFile === undefined ? {} : { rowsPerFile })
    },
    write: (items, index) =>
      Effect.gen(function* () {
        const written: Array<string> = []
        // The file being filled (one at a time).
        let current: OpenFile | undefined
        let rows = 0
        const failure = (file: string, position: string | undefined, cause: unknown) =>
          new FormatError({ format: "parquet", path: file, position, reason: `cannot encode: ${describe(cause)}; check that the rows match the schema` })
        // Only when the encoder refused a group: find the first row the schema refuses, to name it.
        const blame = (file: string, group: ReadonlyArray<A>, first: number) => {
          for (let r = 0; r < group.length; r++) {
            const checked = validate(group[r])
            if (Either.isLeft(checked)) {
              const reason = `does not match the schema: ${ParseResult.TreeFormatter.formatIssueSync(checked.left)}`
              return new FormatError({ format: "parquet", path: file, position: `row ${first + r}`, reason })
            }
          }
          return undefined
        }
        let started = 0
        const startFile = (): OpenFile => {
          const file = rowsPerFile === undefined ? pathOf(index) : withShard(pathOf(index), started++)
          const writer = new ByteWriter()
          return { file, writer, parquet: new ParquetWriter({ writer, schema: parquetSchema, codec, compressors }), rows: 0 }
        }
        // Files whose rows are all encoded, in order, waiting for their footer and their write.
        const full: Array<OpenFile> = []
        const writeFile = (done: OpenFile) =>
          Effect.try({ try: () => done.parquet.finish(), catch: (cause) => failure(done.file, "footer", cause) }).pipe(
            Effect.zipRight(Effect.suspend(() => writeAtomic("parquet", done.file, done.writer.getBytes()))),
            Effect.map((paths) => void written.push(...paths))
          )
        const writeFull = Effect.suspend(() => Effect.forEach(full.splice(0), writeFile, { discard: true }))
        // The rows of the next row group, as the slices of chunks they came in. A group never straddles two files.
        let pending: Array<ReadonlyArray<A>> = []
        let pendingRows = 0
        const room = () => (rowsPerFile === undefined ? groupSize : Math.min(groupSize, rowsPerFile - (current?.rows ?? 0)))
        // Encodes the pending rows as one row group (synchronous: the encoder works in memory).
        const encodePending = (): FormatError | undefined => {
          const group = pending.length === 1 ? pending[0]! : pending.flat()
          pending = []
          pendingRows = 0
          const target = current ??= startFile()
          try {
            const columnData: Array<ColumnSource> = columns.map(({ name, nullable, type }) => ({
              name,
              type,
              nullable,
              data: group.map((row) => (row as Record<string, unknown>)[name] ?? null)
            }))
            void target.parquet.write({ columnData, rowGroupSize })
          } catch (cause) {
            return blame(target.file, group, rows) ?? failure(target.file, `rows ${rows} to ${rows + group.length - 1}`, cause)
          }
          target.rows += group.length
          rows += group.length
          if (rowsPerFile !== undefined && target.rows >= rowsPerFile) {
            full.push(target)
            current = undefined
          }
          return undefined
        }
        // Rows are gathered chunk by chunk into plain arrays (no rechunking stream in between).
        yield* Stream.runForEachChunk(items, (chunk) =>
          Effect.suspend(() => {
            // A chunk that is exactly a row group (the reader's chunks often are) is encoded without a copy.
            const arrived = Chunk.toReadonlyArray(chunk)
            let offset = 0
            while (offset < arrived.length) {
              const take = Math.min(room() - pendingRows, arrived.length - offset)
              pending.push(take === arrived.length ? arrived : arrived.slice(offset, offset + take))
              pendingRows += take
              offset += take
              if (pendingRows < room()) break
              const refused = encodePending()
              if (refused !== undefined) return Effect.fail(refused)
            }
            return full.length === 0 ? Effect.void : writeFull
          }))
        if (pendingRows > 0) {
          const refused = encodePending()
          if (refused !== undefined) return yield* Effect.fail(refused)
        }
        if (current !== undefined) full.push(current)
        current = undefined
        yield* writeFull
        return written
      })
  })
}

/** A Parquet file being filled: its path, its encoder and the rows it has. */
interface OpenFile {
  readonly file: string
  readonly writer: ByteWriter
  readonly parquet: ParquetWriter
  rows: number
}

/** `dir/000042.parquet` → `dir/000042-00003.parquet`. */
const withShard = (file: string, shard: number) => {
  const extension = path.extname(file)
  return `${file.slice(0, file.length - extension.length)}-${String(shard).padStart(5, "0")}${extension}`
}
