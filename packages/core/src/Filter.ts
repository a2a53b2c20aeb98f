/**
 * A filter: turns the stream of items of one index into another stream. It can
 * pass items through, transform them, expand one item into many, or drop them.
 */
import { Context, Effect, Option, type Pipeable, type Schema, Stream } from "effect"
import { hasTypeId, makeComponent } from "./internal/component.js"
import { CurrentIndex, CurrentStage } from "./internal/context.js"
import { type AnyStatefulSpec, checkTemplate, pendingFor, type ShardError, type StatefulSpec } from "./internal/stateful.js"
import type { Params } from "./Provenance.js"

export const TypeId: unique symbol = Symbol.for("@curator/core/Filter")
export type TypeId = typeof TypeId

/**
 * A filter from items `A` to items `B`, failing with `E`, needing `R`.
 * `apply` receives the upstream items as a plain stream: failures of upstream
 * stages still travel through it and are reported against the index.
 */
export interface Filter<in A, out B, out E = never, out R = never> extends Pipeable.Pipeable {
  readonly [TypeId]: TypeId
  /** The component's name, recorded in the configuration, stage metrics and logs. */
  readonly name: string
  /** The parameters that identify what this filter does (part of the config hash). */
  readonly params: Params
  /** Transforms the stream of one index. */
  readonly apply: (items: Stream.Stream<A>) => Stream.Stream<B, E, R>
  /** The same transformation item by item, for filters built with the helpers below. */
  readonly itemwise: Itemwise<A, B, E, R> | undefined
  /** For a filter built with `stateful`: its state, shards and merge (see `Gather`). */
  readonly stateful?: AnyStatefulSpec | undefined
}

/** A filter's work on one item: a plain function, or an Effect. */
export type Itemwise<A, B, E, R> =
  | { readonly _tag: "Sync"; readonly f: (item: A) => ReadonlyArray<B> }
  | { readonly _tag: "Effect"; readonly f: (item: A) => Effect.Effect<B, E, R> }

/** Any filter. */
export type Any = Filter<any, any, any, any>

interface Naming {
  readonly name: string
  readonly params?: Params | undefined
}

/**
 * Builds a filter from a stream transformation. Throws `InvalidParams` if
 * `params` is not plain JSON. Inside `pipe`, its input type comes from
 * upstream; built on its own, annotate `items` — a filter whose input
 * cannot be inferred accepts nothing, rather than turning every later
 * stage into `unknown`.
 *
 * @example
 * const dedupe = Filter.make({
 *   name: "Dedupe",
 *   apply: (items: Stream.Stream<string>) => Stream.changes(items)
 * })
 */
export const make = <A = never, B = never, E = never, R = never>(
  options: Naming & { readonly apply: (items: Stream.Stream<A>) => Stream.Stream<B, E, R> }
): Filter<A, B, E, R> => makeComponent(TypeId, options.name, options.params, { apply: options.apply, itemwise: undefined })

const itemwise = <A, B, E, R>(naming: Naming, apply: Filter<A, B, E, R>["apply"], step: Itemwise<A, B, E, R>): Filter<A, B, E, R> =>
  makeComponent(TypeId, naming.name, naming.params, { apply, itemwise: step })

/** A filter that transforms each item with a pure function. */
export const map = <A, B>(options: Naming & { readonly f: (item: A) => B }): Filter<A, B> =>
  itemwise(options, Stream.map(options.f), { _tag: "Sync", f: (item) => [options.f(item)] })

/** A filter that transforms each item with an Effect, one item at a time. */
export const mapEffect = <A, B, E = never, R = never>(
  options: Naming & { readonly f: (item: A) => Effect.Effect<B, E, R> }
): Filter<A, B, E, R> => itemwise(options, Stream.mapEffect(options.f), { _tag: "Effect", f: options.f })

/** A filter that keeps the items satisfying a predicate and drops the others. */
export const keep: {
  <A, B extends A>(options: Naming & { readonly predicate: (item: A) => item is B }): Filter<A, B>
  <A>(options: Naming & { readonly predicate: (item: A) => boolean }): Filter<A, A>
} = <A>(options: Naming & { readonly predicate: (item: A) => boolean }): Filter<A, A> =>
  itemwise(options, Stream.filter(options.predicate), {
    _tag: "Sync",
    f: (item) => (options.predicate(item) ? [item] : [])
  })

/** A filter that expands each item into zero or more items. */
export const expand = <A, B>(options: Naming & { readonly f: (item: A) => Iterable<B> }): Filter<A, B> =>
  itemwise(options, Stream.mapConcat(options.f), { _tag: "Sync", f: (item) => Array.from(options.f(item)) })

/** A stateful filter: its items pass through; its state `S` is flushed to shards and gathered. */
export interface Stateful<A, S> extends Filter<A, A, ShardError> {
  readonly stateful: StatefulSpec<S, A>
}

/**
 * A filter that keeps state across the indices a worker lane processes —
 * corpus statistics, a vocabulary, a histogram — while its items pass
 * through. After each successful index, the lane's state is written
 * atomically to the lane's shard of `path` (`out/stats.json` gives
 * `out/stats_worker_<id>.json`; `out/stats_{worker}.json` is a template)
 * and the shard is recorded in `filter_artifacts` for that index. A failed
 * index contributes nothing. `Gather` (or the run option `gather: true`, or
 * `curator gather`) merges the shards of every run of the database into
 * `path` with `merge`; every index is counted once, across crashes and
 * resumes (see `internal/stateful.ts` for how). The state is written through
 * `state`, a Schema whose encoded form is JSON. Needs a `FileSystem`
 * (`NodeCurator.layer` provides one); every worker and the gathering process
 * must see the same files.
 *
 * @example
 * const count = Filter.stateful({
 *   name: "CountWords",
 *   path: "out/words.json",
 *   state: Schema.Struct({ documents: Schema.Number, words: Schema.Number }),
 *   initial: { documents: 0, words: 0 },
 *   step: (s, text: string) => ({ documents: s.documents + 1, words: s.words + text.split(" ").length }),
 *   merge: (a, b) => ({ documents: a.documents + b.documents, words: a.words + b.words })
 * })
 */
export const stateful = <A, S, I>(
  options: Naming & {
    /** The gathered file; shards go beside it (see above). Part of the configuration. */
    readonly path: string
    readonly state: Schema.Schema<S, I>
    readonly initial: S
    /** Folds one item into the lane's state (pure: the state is only kept if the index succeeds). */
    readonly step: (state: S, item: A) => S
    /** Combines two states (associative; `initial` is its neutral element). */
    readonly merge: (left: S, right: S) => S
  }
): Stateful<A, S> => {
  checkTemplate(options.name, options.path)
  const spec: StatefulSpec<S, A> = {
    path: options.path,
    state: options.state,
    initial: options.initial,
    step: options.step,
    merge: options.merge
  }
  const apply = (items: Stream.Stream<A>): Stream.Stream<A, ShardError> =>
    Stream.unwrap(Effect.gen(function*() {
      const stage = yield* Effect.serviceOption(CurrentStage)
      if (Option.isNone(stage)) return items
      const pending = yield* pendingFor(stage.value.order - 1)
      if (Option.isNone(pending) || !pending.value.fold) return items
      const slot = pending.value
      // The pending state belongs to this index alone; the lane keeps it only once the index succeeded.
      return Stream.map(items, (item) => {
        slot.state = options.step(slot.state as S, item)
        return item
      })
    }))
  return makeComponent(TypeId, options.name, { ...options.params, path: options.path }, {
    apply,
    itemwise: undefined,
    stateful: spec
  })
}

/**
 * Reports a file written by the filter that is running, so that it is recorded
 * in `filter_artifacts` with the filter's name and position. Outside a
 * pipeline run, or outside a filter, it does nothing.
 *
 * @example
 * Filter.mapEffect({
 *   name: "Thumbnail",
 *   f: (mesh: Mesh) => writePng(mesh).pipe(Effect.tap(Filter.recordArtifact))
 * })
 */
export const recordArtifact = (path: string): Effect.Effect<void> =>
  Effect.contextWith((context) => {
    const current = Context.getOption(context, CurrentIndex)
    const stage = Context.getOption(context, CurrentStage)
    if (current._tag === "Some" && stage._tag === "Some" && stage.value.kind === "filter") {
      current.value.artifacts.push({ path, filterName: stage.value.name, filterOrder: stage.value.order - 1 })
    }
  })

/** Tells whether a value is a filter. */
export const isFilter = (u: unknown): u is Any => hasTypeId(TypeId, u)
