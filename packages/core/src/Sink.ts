/**
 * A sink: consumes the stream of one index and returns the paths of the files
 * it wrote, in order.
 */
import { Chunk, Effect, type Pipeable, Schema, Stream } from "effect"
import { hasTypeId, makeComponent } from "./internal/component.js"
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
