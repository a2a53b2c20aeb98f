/**
 * A sink: consumes the stream of one index and returns the paths of the files
 * it wrote, in order.
 */
import { Chunk, Effect, Option, type Pipeable, Schema, Stream } from "effect"
import { hasTypeId, makeComponent } from "./internal/component.js"
import { CurrentIndex } from "./internal/context.js"
import { makeMeter } from "./internal/outputChecks.js"
import type { Params } from "./Provenance.js"
import type { Partition } from "./Source.js"

export const TypeId: unique symbol = Symbol.for("@curator/core/Sink")
export type TypeId = typeof TypeId

/**
 * A sink of items `A`, failing with `E`, needing `R`. `write` receives the
 * upstream items as a plain stream: failures of upstream stages still travel
 * through it and are reported against the index.
 */
export interface Sink<in A, out E = never, out R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  /** The component's name, recorded in the configuration, stage metrics and logs. */
  readonly name: string
  /** The parameters that identify where and how the sink writes (part of the config hash). */
  readonly params: Params
  /** Consumes the items of `index` and returns the paths written. */
  readonly write: (items: Stream.Stream<A>, index: number) => Effect.Effect<ReadonlyArray<string>, E, R>
  /** The same from all the items at once, for sinks built with `fromItems` or `drain`. */
  readonly writeItems: ((items: ReadonlyArray<A>, index: number) => Effect.Effect<ReadonlyArray<string>, E, R>) | undefined
  /**
   * Groups of indices that must be processed by the same worker, in order
   * (e.g. a format that allows one open handle per process); undefined when
   * any index may go anywhere.
   */
  readonly partition: Partition | undefined
}

/**
 * A sink returned something other than a list of paths for one index (a
 * `null`, a number, an empty string): that index fails with this error and
 * is computed again next run; the other indices are unaffected.
 */
export class InvalidSinkResult extends Schema.TaggedError<InvalidSinkResult>()("InvalidSinkResult", {
  sink: Schema.String,
  index: Schema.Number,
  message: Schema.String
}) {}

/** Any sink. */
export type Any = Sink<any, any, any>

/**
 * Builds a sink. Throws `InvalidParams` if `params` is not plain JSON.
 *
 * @example
 * const jsonFiles = Sink.make({
 *   name: "JsonFiles",
 *   params: { dir: "/out" },
 *   write: (items: Stream.Stream<Record>, index) =>
 *     Stream.runCollect(items).pipe(Effect.flatMap((rows) => writeJson(`/out/${index}.json`, rows)))
 * })
 */
export const make = <A, E = never, R = never>(options: {
  readonly name: string
  readonly params?: Params | undefined
  readonly write: (items: Stream.Stream<A>, index: number) => Effect.Effect<ReadonlyArray<string>, E, R>
  /** Groups of indices that must stay on one worker, in order (e.g. one open handle per process). */
  readonly partition?: Partition | undefined
}): Sink<A, E, R> =>
  makeComponent(TypeId, options.name, options.params, {
    write: options.write,
    writeItems: undefined,
    partition: options.partition
  })

/**
 * Builds a sink that needs all the items of an index at once (most file
 * formats do: one JSON, one array file per index). Pipelines whose source
 * and filters also work item by item then skip stream machinery entirely.
 *
 * @example
 * const jsonFiles = Sink.fromItems({
 *   name: "JsonFiles",
 *   params: { dir: "/out" },
 *   write: (rows: ReadonlyArray<Row>, index) => writeJson(`/out/${index}.json`, rows)
 * })
 */
export const fromItems = <A, E = never, R = never>(options: {
  readonly name: string
  readonly params?: Params | undefined
  readonly write: (items: ReadonlyArray<A>, index: number) => Effect.Effect<ReadonlyArray<string>, E, R>
  /** Groups of indices that must stay on one worker, in order (e.g. one open handle per process). */
  readonly partition?: Partition | undefined
}): Sink<A, E, R> =>
  makeComponent(TypeId, options.name, options.params, {
    write: (items: Stream.Stream<A>, index: number) =>
      Effect.flatMap(Stream.runCollect(items), (chunk) => options.write(Chunk.toReadonlyArray(chunk), index)),
    writeItems: options.write,
    partition: options.partition
  })

/**
 * A sink that writes nothing: it drains the items and returns the paths that
 * `pathOf` names for the index. Useful for dry runs and benchmarks.
 */
export const drain = <A>(options: {
  readonly name: string
  readonly params?: Params | undefined
  readonly pathOf: (index: number) => ReadonlyArray<string>
}): Sink<A> =>
  makeComponent(TypeId, options.name, options.params, {
    write: (items: Stream.Stream<A>, index: number) => Effect.as(Stream.runDrain(items), options.pathOf(index)),
    // The paths as a value: a stage that is a value needs no stage context (see internal/computeIndex.ts).
    writeItems: (_: ReadonlyArray<A>, index: number) => Effect.succeed(options.pathOf(index)),
    partition: undefined
  })

/** Tells whether a value is a sink. */
export const isSink = (u: unknown): u is Any => hasTypeId(TypeId, u)

/**
 * The measurement of one output file a sink takes from the bytes it writes
 * (see {@link meterOutput}).
 */
export interface OutputMeter {
  /** Feeds the file's next bytes, in the order they are written. */
  readonly update: (bytes: Uint8Array) => void
  /** Files the measurement with the index, once the file is in place under its final path. */
  readonly done: Effect.Effect<void>
}

/**
 * For a sink that writes files: when the run records each output's size
 * (and content hash: `verifyOutputs: "size" | "content"`), a meter for the
 * file at `path`. Feed it the file's bytes as they are written and run
 * `done` once the file is in place; the run then records that measurement
 * instead of reading the file back. `None` when the run records none (or
 * outside a run), so a sink does no work for it then. Outputs a sink does
 * not meter are measured from their files.
 *
 * @example
 * const meter = yield* Sink.meterOutput(path)
 * Option.map(meter, (m) => m.update(bytes))
 * yield* writeFile(path, bytes)
 * if (Option.isSome(meter)) yield* meter.value.done
 */
export const meterOutput = (path: string): Effect.Effect<Option.Option<OutputMeter>> =>
  Effect.flatMap(Effect.serviceOption(CurrentIndex), (current) => {
    const measured = Option.isSome(current) ? current.value.measured : undefined
    if (measured === undefined) return Effect.succeedNone
    return Effect.map(makeMeter(path, measured.mode), (meter) =>
      Option.some<OutputMeter>({
        update: meter.update,
        done: Effect.sync(() => void measured.byPath.set(path, meter.digest()))
      }))
  })
