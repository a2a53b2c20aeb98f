/**
 * A source: where a pipeline's items come from. It has a length and, for each
 * index `0..length-1`, a stream of one or more items.
 */
import { Data, Effect, type Pipeable, Stream } from "effect"
import { hasTypeId, makeComponent } from "./internal/component.js"
import { canonicalJsonOf, InvalidParams, type Params, sha256Hex } from "./Provenance.js"

export const TypeId: unique symbol = Symbol.for("@curator/core/Source")
export type TypeId = typeof TypeId

/** A source of items of type `A`, failing with `E`, needing `R`. */
export interface Source<out A, out E = never, out R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  /** The component's name, recorded in the configuration and in logs. */
  readonly name: string
  /** The parameters that identify this source's data (part of the config hash). */
  readonly params: Params
  /** How many indices the source has; an Effect because finding out may need I/O. */
  readonly length: Effect.Effect<number, E, R>
  /** The items of one index, read lazily. */
  readonly read: (index: number) => Stream.Stream<A, E, R>
  /**
   * The items of one index all at once, when the source was built from
   * `items`: lets a pipeline of item-wise filters and an items sink run the
   * index without stream machinery (the same results, much less overhead).
   */
  readonly items: ((index: number) => Effect.Effect<ReadonlyArray<A>, E, R>) | undefined
  /**
   * Groups of indices that must be processed by the same worker, in order
   * (e.g. a format that allows one open handle per process); undefined when
   * any index may go anywhere.
   */
  readonly partition: Partition | undefined
  /**
   * The identity of one index's input as it is now (e.g. path, size and
   * mtime of its file), recorded with the index: on resume an index whose
   * fingerprint changed is stale and computed again. A source whose index →
   * item mapping can shift (a directory listing) includes the item's key.
   * Undefined when the source has none: completed indices are then trusted.
   */
  readonly fingerprint?: ((index: number) => Effect.Effect<string, E, R>) | undefined
}

/**
 * Splits the indices a run will compute into groups, each processed by one
 * worker in the order given. Every index must appear in exactly one group.
 */
export type Partition = (indices: ReadonlyArray<number>) => ReadonlyArray<ReadonlyArray<number>>

/** Any source, whatever it yields. */
export type Any = Source<any, any, any>

/**
 * Builds a source from `read` (a lazy stream per index, for large or
 * unbounded items) or `items` (all the items of an index at once, for small
 * ones). Throws `InvalidParams` if `params` is not plain JSON.
 *
 * @example
 * const shards = Source.make({
 *   name: "Shards",
 *   params: { dir: "/data" },
 *   length: 80,
 *   read: (index) => Stream.make(`/data/shard-${index}.jsonl`)
 * })
 */
export const make = <A, E = never, R = never, E2 = never, R2 = never>(
  options: {
    readonly name: string
    readonly params?: Params | undefined
    readonly length: number | Effect.Effect<number, E2, R2>
    /** Groups of indices that must stay on one worker, in order. */
    readonly partition?: Partition | undefined
    /** The identity of one index's input as it is now (see {@link Source.fingerprint}). */
    readonly fingerprint?: ((index: number) => Effect.Effect<string, E, R>) | undefined
  } & (
    | { readonly read: (index: number) => Stream.Stream<A, E, R>; readonly items?: undefined }
    | { readonly items: (index: number) => Effect.Effect<ReadonlyArray<A>, E, R>; readonly read?: undefined }
  )
): Source<A, E | E2, R | R2> => {
  const items = options.items
  return makeComponent(TypeId, options.name, options.params, {
    length: typeof options.length === "number" ? Effect.succeed(options.length) : options.length,
    read: items === undefined
      ? options.read!
      : (index: number) => Stream.flatMap(Stream.fromEffect(items(index)), Stream.fromIterable),
    items,
    partition: options.partition,
    fingerprint: options.fingerprint
  })
}

/**
 * A source over an in-memory array: index `i` yields the single item `items[i]`.
 * Handy for tests and small lists of work (file names, ids).
 *
 * Its identity (the params hashed into the configuration) is the content
 * of the list: the SHA-256 of the items' canonical JSON, so two different
 * lists never share a checkpoint. Items that are not JSON (functions, class
 * instances) cannot be hashed: pass `params` that identify them instead.
 */
export const fromArray = <A>(name: string, items: ReadonlyArray<A>, params?: Params): Source<A> =>
  make({
    name,
    params: params ?? contentParams(name, items),
    length: items.length,
    items: (index) => Effect.succeed([items[index] as A])
  })

const contentParams = (name: string, items: ReadonlyArray<unknown>): Params => {
  const json = canonicalJsonOf(items)
  if (json === undefined) {
    throw new InvalidParams({
      component: name,
      key: "(items)",
      reason: "cannot be hashed to identify the source (they are not plain JSON); pass params that identify the items"
    })
  }
  return { length: items.length, sha256: sha256Hex(json) }
}

/** A source that cannot be run as it is (its length is not a count); raised before anything is recorded. */
export class InvalidSource extends Data.TaggedError("InvalidSource")<{
  readonly source: string
  readonly message: string
}> {}

/** Checks a source's length: a non-negative integer, else `InvalidSource` naming the source. */
export const checkLength = (source: Any, length: number): Effect.Effect<number, InvalidSource> =>
  Number.isSafeInteger(length) && length >= 0
    ? Effect.succeed(length)
    : Effect.fail(
      new InvalidSource({
        source: source.name,
        message: `the source ${source.name} reports a length of ${String(length)}; a length must be a whole number of indices, 0 or more`
      })
    )

/** Tells whether a value is a source. */
export const isSource = (u: unknown): u is Any => hasTypeId(TypeId, u)
