/**
 * A filter: turns the stream of items of one index into another stream. It can
 * pass items through, transform them, expand one item into many, or drop them.
 */
import { Context, Effect, type Pipeable, Stream } from "effect"
import { hasTypeId, makeComponent } from "./internal/component.js"
import { CurrentIndex, CurrentStage } from "./internal/context.js"
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
